// Swagger UI for docs/openapi.json, served by the sandbox with this sandbox's API as its server, so
// "Try it out" calls the real functions behind the gateway, with the sandbox's API key. Everything loads
// from this origin.
"use strict";

window.addEventListener("load", async () => {
  // The sandbox's own API key (the template's default ClientAuth=api_key), so "Try it out" works at once.
  const config = await fetch("config.json").then((r) => r.json()).catch(() => ({}));
  window.ui = SwaggerUIBundle({
    url: "openapi.json",
    onComplete: () => {
      if (config.api_key) window.ui.preauthorizeApiKey("apiKey", config.api_key);
    },
    dom_id: "#swagger-ui",
    deepLinking: true,
    tryItOutEnabled: true,
    validatorUrl: null, // the default sends the document to validator.swagger.io
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
