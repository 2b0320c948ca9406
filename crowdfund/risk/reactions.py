"""Outbox observers of crowdfund/risk: what it recomputes when a domain event is delivered
(crowdfund.outbox.observes). Imported by the app factory, which registers them."""
