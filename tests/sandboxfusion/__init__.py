"""SandboxFusion's own runner tests (an outside suite), replayed against our /run_code."""
