"""Verify cost per request: JWTTokenVerifier.authenticate, uncached vs cached, per algorithm.

Run: ``uv run python tools/bench/auth_bench.py [iterations]``. Prints µs per call; it
asserts nothing (numbers depend on the machine).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

from mcp_fastapi_server.auth import JWTTokenVerifier, KeySource, StaticKeySource
from mcp_testkit.jwt import JwtIssuer


async def per_call_us(verifier: JWTTokenVerifier, tokens: list[str], rounds: int = 5) -> float:
    results = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        for token in tokens:
            await verifier.authenticate(token)
        results.append((time.perf_counter_ns() - start) / len(tokens) / 1000)
    return statistics.median(results)


def make(issuer: JwtIssuer, cache_size: int) -> JWTTokenVerifier:
    keys: KeySource = (
        StaticKeySource.from_secret(issuer.secret, [issuer.alg])
        if issuer.symmetric
        else StaticKeySource.from_pem(issuer.public_pem, [issuer.alg])
    )
    return JWTTokenVerifier(
        keys,
        algorithms=[issuer.alg],
        issuer=issuer.issuer,
        audience=issuer.audience,
        cache_size=cache_size,
    )


async def main(n: int) -> None:
    print(f"{'alg':<7} {'uncached µs':>12} {'cached µs':>10}   (median of 5 rounds x {n} calls)")
    for alg in ["RS256", "PS256", "ES256", "EdDSA", "HS256"]:
        with JwtIssuer(alg, serve_jwks=False) as issuer:
            # Uncached: distinct tokens and no cache, so every call does the full check.
            tokens = [issuer.token(sub=f"u{i}") for i in range(n)]
            uncached = await per_call_us(make(issuer, 0), tokens)
            cached_verifier = make(issuer, 10_000)
            token = issuer.token()
            await cached_verifier.authenticate(token)
            cached = await per_call_us(cached_verifier, [token] * n)
            print(f"{alg:<7} {uncached:>12.1f} {cached:>10.1f}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
