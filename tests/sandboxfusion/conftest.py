import pytest

from tests.helpers import need_language
from tests.sandboxfusion._transport import client

# SandboxFusion's test module -> our language row (a missing toolchain skips here, fails in CI).
LANGUAGE_OF = {"test_bash": "bash", "test_cpp": "cpp", "test_go": "go", "test_java": "java",
               "test_nodejs": "javascript", "test_python": "python", "test_rust": "rust"}


@pytest.fixture(autouse=True)
def _sandboxfusion_server(request: pytest.FixtureRequest, embedded_server: str) -> None:
    need_language(LANGUAGE_OF[request.module.__name__.rsplit(".", 1)[-1]])
    client.url = embedded_server
