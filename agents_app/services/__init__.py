"""Writes of the agents app, one module per concept: `agents`, `deployments`, `invocations`.

Callers import the concept's module, e.g. `from agents_app.services import agents as agent_services`;
`errors.RetryLater` is what the services raise to their tasks.
"""
