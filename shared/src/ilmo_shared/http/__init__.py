"""HTTP plumbing every service shares: health and metrics, correlation ids, problem details."""
