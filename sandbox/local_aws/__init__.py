"""AWS on one machine: the gateway that serves template.yaml's functions as API Gateway and function URLs would
(gateway.py; the functions as declared in functions.py, run and timed as Lambda does in lambda_runtime.py),
DynamoDB Local and moto for Secrets Manager and KMS (services.py), and the template reader (template.py loads it,
conditions.py resolves it for given parameter values with SAM CLI's AWS::LanguageExtensions processor)."""
