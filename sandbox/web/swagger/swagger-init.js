// Swagger UI for docs/openapi.json, served by the sandbox with this sandbox's API as its server, so
// "Try it out" calls the real functions behind the gateway. Everything loads from this origin.
"use strict";

window.addEventListener("load", () => {
  window.ui = SwaggerUIBundle({
    url: "openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    tryItOutEnabled: true,
    validatorUrl: null, // the default sends the document to validator.swagger.io
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
