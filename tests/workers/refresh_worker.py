"""Run as a separate process by test_token_refresh: GETs in a loop with a shared token file."""

import asyncio
import logging
import sys
from pathlib import Path

from recon.contaazul.client import ContaAzulClient
from recon.contaazul.tokens import TokenFile


async def main(api_url: str, token_file: str, requests: int) -> None:
    client = ContaAzulClient(
        api_url=api_url, token_url=f"{api_url}/oauth2/token", client_id="demo-client",
        client_secret="demo-secret", token_file=TokenFile(Path(token_file)), requests_per_second=0)
    async with client:
        for _ in range(requests):
            await client.get("/v1/conta-financeira", params={"pagina": 1, "tamanho_pagina": 10})
            await asyncio.sleep(0.05)


if __name__ == "__main__":
    # Debug logging on stderr, so the test's check that no token is printed means something.
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
