"""The RQ deployable: job functions (imported by dotted path) and worker start-up."""
