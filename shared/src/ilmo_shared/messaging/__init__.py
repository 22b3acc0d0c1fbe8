"""RabbitMQ plumbing: topology, the confirmed publisher and typed subscriptions."""
