"""What the product does. Services use models and adapters and know nothing of requests."""
