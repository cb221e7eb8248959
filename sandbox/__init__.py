"""The product on one machine: DynamoDB Local, moto, simulated providers and network, a local gateway."""
