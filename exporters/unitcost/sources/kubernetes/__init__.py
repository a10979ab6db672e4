"""The Kubernetes source: list/watch the cluster through the official client into a Snapshot.

One module per concern: `settings` (the config block), `client` (ApiClient setup),
`reflector` (paged list + watch + relist on 410), `convert` (objects -> model, keeping only
the fields the model needs), `usage` (the metrics API poller), `queues` (Kueue and YuniKorn),
`source` (ties them together as a Source). Nothing here is imported until `source.kind` is
`kubernetes`, so the client library is not loaded for the simulator.
"""
