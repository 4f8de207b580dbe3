"""The FastAPI deployable: app factory, routes, dependencies, dispatch, storage."""
