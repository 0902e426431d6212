"""An MCP client written with the official Python SDK (`mcp` on PyPI): starts the server
command given on the command line over stdio, lists its tools, calls one, and prints JSON."""
import asyncio
import json
import sys

from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client


async def main():
    tool, arguments = sys.argv[1], json.loads(sys.argv[2])
    params = StdioServerParameters(command=sys.argv[3], args=sys.argv[4:])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            listed = await session.list_tools()
            result = await session.call_tool(tool, arguments)
            text = "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")
            print(json.dumps({"tools": sorted(t.name for t in listed.tools), "text": text, "is_error": bool(getattr(result, "is_error", getattr(result, "isError", False)))}))


asyncio.run(main())
