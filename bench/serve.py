"""What serving the wine model costs, measured side by side (a benchmark, not a test): requests per second and
latency of four servers on 127.0.0.1 under the same async HTTP client (httpx, keep-alive), and the model's own
throughput on a batch.

Usage: python bench/serve.py [--quick] [--requests 2000] [--clients 1 8 32]

The servers, each started as a child process on a free port and stopped (SIGTERM) before the next one starts:
- `bare`: FastAPI + uvicorn answering a constant, after reading the body as JSON: the HTTP floor of this machine;
- `fastapi`: the project's server, `python -m mlops_tutorial.beyond.serve` (validation, featurization, the model, the
  request log): what `make serve` runs;
- `litserve`: the same service (`WineService`, validation turned into 422 answers) behind LitServe, batching off;
- `litserve-batch`: the same with server-side batching (up to 8 requests, waiting at most 5 ms).
For each, at each number of concurrent clients, it posts `--requests` real red wines (after 50 uncounted warm-up
requests) and prints requests/s, p50/p95/p99 latency and errors (any answer but 200), then the model's rows per
second on a batch of every red wine, and last the two ratios the issue asks for (fastapi / bare at 8 clients, and
p99 / p50 of fastapi at 8 clients). `--quick` (what CI runs, a few seconds) runs the bare and the fastapi server at 1
and 8 clients with 50 requests each after 10 warm-up requests, and times the model for a fraction of a second.
The project's serving code (torch, Lightning) is imported only where it is used, so the bare server's process starts
without it.
"""
import argparse
import importlib
import json
import socket
import sys
import tempfile
import time
from pathlib import Path

import httpx
import litserve as ls
from fastapi import HTTPException

ROOT = Path(__file__).resolve().parents[1]
QUICK = {"requests": 50, "warm_up": 10, "clients": [1, 8], "model_seconds": 0.2}  # what --quick measures


def project():
    "The project's serving module, mlops_tutorial.beyond.serve, imported on first use (the bare server never uses it)."
    return importlib.import_module("mlops_tutorial.beyond.serve")


def serve_bare(port: int) -> None:
    "A FastAPI + uvicorn server whose /predict parses the JSON body and answers a constant."
    import uvicorn  # pylint: disable=import-outside-toplevel
    from fastapi import FastAPI, Request  # pylint: disable=import-outside-toplevel
    from fastapi.responses import JSONResponse  # pylint: disable=import-outside-toplevel

    app = FastAPI()

    @app.post("/predict")
    async def predict(request: Request) -> JSONResponse:
        json.loads(await request.body())
        return JSONResponse({"quality": 6.0})

    @app.get("/health")
    async def health() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    sock = socket.create_server(("127.0.0.1", port))  # bound and listening (port 0: a free one)
    print(f"bare on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    try:
        uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(sockets=[sock])
    except KeyboardInterrupt:
        pass


class WineAPI(ls.LitAPI):  # pylint: disable=abstract-method  # has_capacity etc.: LitServe's defaults serve
    "The project's service behind LitServe, one request at a time; bad input is a 422, as in the FastAPI server."

    def __init__(self, files: dict, **options):
        super().__init__(**options)
        self.files, self.service, self.serve = files, None, None

    def setup(self, device):  # pylint: disable=unused-argument
        self.serve = project()  # once per worker, not per request
        self.service = self.serve.WineService(self.files["checkpoint"], self.files["featurizer"], ROOT / "dvc.lock")

    def decode_request(self, request):  # pylint: disable=arguments-differ
        try:
            return self.serve.validate_wine_request(request)
        except self.serve.BadRequest as error:
            raise HTTPException(status_code=422, detail=error.problems) from None

    def predict(self, x):  # pylint: disable=arguments-differ
        return self.service.predict([x])[0]

    def encode_response(self, output):  # pylint: disable=arguments-differ
        return {"quality": output}


class WineBatchAPI(WineAPI):  # pylint: disable=abstract-method
    "The same with server-side batching: `predict` gets a list of validated wines."

    def batch(self, inputs):  # pylint: disable=arguments-differ
        return list(inputs)

    def predict(self, x):
        return self.service.predict(x)

    def unbatch(self, output):  # pylint: disable=arguments-differ
        return list(output)


def serve_litserve(port: int, checkpoint: str, featurizer: str, batch: bool) -> None:
    "The model behind LitServe on 127.0.0.1, batching off or on (8 requests, 5 ms)."
    files = {"checkpoint": checkpoint, "featurizer": featurizer}
    api = WineBatchAPI(files, max_batch_size=8, batch_timeout=0.005) if batch else WineAPI(files)
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=1)
    print(f"litserve on http://127.0.0.1:{port}", flush=True)
    server.run(host="127.0.0.1", port=port, generate_client_file=False, log_level="warning")


def free_port() -> int:
    "A port that is free now (for LitServe, which cannot listen on port 0 and report it)."
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_healthy(url: str, timeout: float = 120) -> None:
    "Poll `url`/health until it answers 200 (LitServe prints its address before its workers are ready)."
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not become healthy within {timeout:.0f} s")


def commands(files: dict, log: Path) -> dict:
    "Server name -> the command that starts it."
    this = [sys.executable, str(Path(__file__).resolve())]
    lit = ["--checkpoint", str(files["checkpoint"]), "--featurizer", str(files["featurizer"])]
    return {
        "bare": this + ["--serve", "bare", "--port", "0"],
        "fastapi": [sys.executable, "-m", "mlops_tutorial.beyond.serve", "--checkpoint", str(files["checkpoint"]),
                    "--featurizer", str(files["featurizer"]), "--lock", str(ROOT / "dvc.lock"), "--port", "0",
                    "--log", str(log)],
        "litserve": this + ["--serve", "litserve", "--port", str(free_port())] + lit,
        "litserve-batch": this + ["--serve", "litserve-batch", "--port", str(free_port())] + lit,
    }


def measure(name: str, command: list, bodies: list, clients: list, requests: int, warm_up: int = 50) -> list:
    "One row per number of clients for the server `command` starts, after `warm_up` uncounted requests."
    rows = []
    with project().serving(command, cwd=ROOT) as server:
        wait_until_healthy(server.url)
        url = f"{server.url}/predict"
        refused = httpx.post(url, content=b'{"alcohol": "strong"}', timeout=10).status_code
        project().load_test(url, bodies, requests=warm_up, clients=4)  # warm-up, not counted
        for count in clients:
            rows.append({"server": name, **project().load_test(url, bodies, requests=requests, clients=count),
                         "bad input": refused})
    return rows


def model_rows_per_second(files: dict, wines: list, seconds: float = 2.0) -> float:
    "Rows per second of `WineService.predict` on a batch of `wines` in this process (one PyTorch thread)."
    import torch  # pylint: disable=import-outside-toplevel
    torch.set_num_threads(1)
    service = project().WineService(files["checkpoint"], files["featurizer"], ROOT / "dvc.lock")
    service.predict(wines)
    start, rounds = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        service.predict(wines)
        rounds += 1
    return rounds * len(wines) / (time.perf_counter() - start)


def print_table(rows: list) -> None:
    "The measurements as a fixed-width table."
    columns = ["server", "clients", "requests", "requests_per_s", "p50_ms", "p95_ms", "p99_ms", "errors", "bad input"]
    print(" ".join(f"{column:>14}" for column in columns))
    for row in rows:
        print(" ".join(f"{row[column]:>14}" for column in columns))


def main() -> None:
    "Measure each server at each number of clients; print the table, the model's rows/s and the ratios."
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"bare and fastapi only, {' and '.join(map(str, QUICK['clients']))} clients, "
                        f"{QUICK['requests']} requests after {QUICK['warm_up']} warm-up ones: a few seconds (for CI)")
    parser.add_argument("--requests", type=int, default=2000, help="requests per measurement")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32], help="concurrent clients")
    parser.add_argument("--serve", choices=["bare", "litserve", "litserve-batch"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", help=argparse.SUPPRESS)
    parser.add_argument("--featurizer", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "bare":
        return serve_bare(args.port)
    if args.serve:
        return serve_litserve(args.port, args.checkpoint, args.featurizer, batch=args.serve == "litserve-batch")
    from mlops_tutorial.core.data import FEATURES, load_wine  # pylint: disable=import-outside-toplevel
    requests, clients, warm_up, model_seconds = (
        (QUICK["requests"], QUICK["clients"], QUICK["warm_up"], QUICK["model_seconds"]) if args.quick
        else (args.requests, args.clients, 50, 2.0))
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as folder:
        files = project().pipeline_outputs(ROOT, folder)
        wines = load_wine("red")[FEATURES].to_dict("records")
        bodies = [json.dumps(wine).encode() for wine in wines]
        servers = commands(files, Path(folder) / "requests.jsonl")
        names = ["bare", "fastapi"] if args.quick else list(servers)
        rows = [row for name in names for row in measure(name, servers[name], bodies, clients, requests, warm_up)]
        print_table(rows)
        batch_speed = model_rows_per_second(files, [list(wine.values()) for wine in wines], model_seconds)
    print(f"model alone: {batch_speed:,.0f} rows/s on a batch of {len(wines)} red wines (WineService.predict)")
    at_8 = {row["server"]: row for row in rows if row["clients"] == 8}
    if "bare" in at_8 and "fastapi" in at_8:
        print(f"p99/p50 of fastapi at 8 clients: {at_8['fastapi']['p99_ms'] / at_8['fastapi']['p50_ms']:.2f}")
        print(f"ratio: {at_8['fastapi']['requests_per_s'] / at_8['bare']['requests_per_s']:.2f} "
              "(fastapi / bare requests per second at 8 clients)")
    return None


if __name__ == "__main__":
    main()
