"""Pain points: topics in feedback text, sentiment, links to touchpoints, priorities."""
