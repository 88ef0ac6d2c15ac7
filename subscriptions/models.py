"""Plans, subscriptions, renewals, upsell and payment gateways (DESIGN §3)."""
