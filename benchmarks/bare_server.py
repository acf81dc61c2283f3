"""The peer for the throughput benchmark: a bare aiohttp handler returning fixed bytes."""
import sys

from aiohttp import web


def main():
    port, path = int(sys.argv[1]), sys.argv[2]
    with open(path, "rb") as handle:
        body = handle.read()

    async def handler(request):
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/1.0/cluster/members", handler)
    print("bare server ready", flush=True)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
