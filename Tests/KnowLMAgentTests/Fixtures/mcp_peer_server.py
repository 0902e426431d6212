"""An MCP server written with the official Python SDK (`mcp` on PyPI), as a peer for the
agent's MCP client: one tool over a small table of a made-up country's facts."""
try:
    from mcp.server.mcpserver import MCPServer as Server  # mcp 2.x
except ImportError:
    from mcp.server.fastmcp import FastMCP as Server  # mcp 1.x

server = Server("peer-facts")

FACTS = {"freedonia": "The capital of Freedonia is Fredville; its currency is the freedonian mark."}


@server.tool()
def country_facts(country: str) -> str:
    """Facts about a country: its capital and currency."""
    return FACTS.get(country.strip().lower(), f"No facts about {country}.")


@server.tool()
def fail_always(reason: str) -> str:
    """A tool that always fails (for error handling)."""
    raise ValueError(f"refused: {reason}")


if __name__ == "__main__":
    server.run()
