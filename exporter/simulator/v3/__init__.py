"""The simulated EEN API v3 (een-api-v3.md), beside v1 on the same server and world."""
