"""The settlement layer: the only code below the web that commits, because every Stripe call must sit
between commits — after a committed claim, never while a row or the database is locked.

It owns the transactions of everything that moves money: checkout (start and complete a pledge, a
new card, the fix flow), the deadline (charging, retries, dropping, forgetting unfunded cards),
resolving charge attempts whose outcome is unknown, refunds, stopping a campaign (cancel, suspend)
and releases to founders. The pattern in every module here:

1. a short transaction that checks the state and claims the work (a conditional UPDATE or an
   INSERT under a unique key), COMMITTED;
2. the Stripe call, with no transaction open and an idempotency key derived from the claim;
3. a short transaction that books the outcome (ledger rows, state transitions, outbox events),
   COMMITTED — or, when Stripe's answer is unknown, leaves the claim for the resolver job.

Domain services below it (crowdfund.pledges, crowdfund.campaigns, crowdfund.payouts,
crowdfund.payments.ledger) flush and never commit; web code above it (routes, CLI, tasks) calls it
and never calls Stripe itself.
"""
