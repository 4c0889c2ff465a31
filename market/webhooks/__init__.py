"""Webhooks: participants' endpoints, the events the exchange sends them (each rendered as
the API shows its object to that participant), signed deliveries with retries, the delivery
log and replays."""
