"""The GPU check's sections, one subprocess each, into one JSON: run by benchmarks/gpu_check.sh.

Sections, in this order (--sections picks some):
  env        card, driver, versions, date, the wheel install report, the carried data
  tests      the CUDA-only tests (tests/test_cuda.py; they skip on a CPU)
  precision  a few BYOL steps in fp32, bf16 and fp16 + GradScaler (as a T4 runs): finite, and
             agreeing with fp32 on the same start and views (benchmarks/gpu_precision.py)
  step       one BYOL step, images/s: byol_course vs lightly with 2 (Colab) and 16 DataLoader
             workers vs byol-pytorch, ResNet-18 at batch 512 (benchmarks/bench_step.py)
  compile    torch.compile on vs off on a short run, compile time included (benchmarks/compile_check.py)
  pretrain   ResNet-18 pretraining on CIFAR-10 for the epochs that fit in the time left, at most
             6 minutes (the cosine schedules set for them), kNN (k = 200) on the test split at the
             end (benchmarks/pretrain_timed.py)

The whole check keeps to --deadline seconds (default 540, counted from when gpu_check.sh
started): each section runs under a timeout (compile: at most 110 s, so that a slow compiler
cannot eat the pretraining), and pretraining gets min(6 min, what is left less a margin), so
whatever the earlier sections did not use goes to it. A section that
fails or times out is recorded with its error and the end of its output; the others go on. The
JSON is rewritten (temp file + rename) after every section, so a run cut short keeps what was
done; each section's full output goes to a .log beside it.

    python3 benchmarks/gpu_check.py --out results.json [--tiny] [--data .cifar10] [--sections env,step]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("env", "tests", "precision", "step", "compile", "pretrain")
GOALS = {  # issue 16's goals for the record; met or not is computed from the measurements
    "epoch_seconds_max": 3.0,  # an epoch of ResNet-18 on CIFAR-10, batch 512, bf16
    "step_ratio_over_lightly_16_workers_min": 3.0,
    "knn_top1_min": 0.85,  # within the 6-minute budget
}


def atomic_write_json(obj: Any, path: Path) -> None:
    """Write JSON to path through a temporary file and a rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def default_data() -> str:
    """The carried zips (.cifar10/), else the project's ../shared/data, else the generated dataset."""
    for d in (ROOT / ".cifar10", ROOT.parent / "shared" / "data"):
        if (d / "cifar10-jpg-train.zip").is_file() and (d / "cifar10-jpg-test.zip").is_file():
            return str(d)
    return "embedded"


# --- the env section (run as `gpu_check.py --env-section FILE` in its own process) ------------


def _run(cmd: list[str]) -> str | None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return done.stdout.strip() if done.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def env_section(args: argparse.Namespace) -> dict[str, Any]:
    import importlib.metadata as md

    import torch

    def version(name: str) -> str | None:
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return None

    info: dict[str, Any] = {
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "versions": {n: version(n) for n in ("torchvision", "numpy", "pillow", "triton", "lightly", "byol-pytorch",
                                             "pytorch-lightning", "hydra-core", "pytest")},
        "cuda_available": torch.cuda.is_available(),
    }
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor()
    info["cpu"] = cpu
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        info["gpu"] = {"name": p.name, "capability": f"{p.major}.{p.minor}", "multiprocessors": p.multi_processor_count,
                       "memory_gib": round(p.total_memory / 2**30, 1), "count": torch.cuda.device_count(),
                       "bf16_supported": torch.cuda.is_bf16_supported()}
    smi: dict[str, str] = {}
    for fields in ("name,driver_version,memory.total", "clocks.sm,clocks.max.sm,power.limit,pstate,temperature.gpu"):
        line = _run(["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader"])  # separately: an unknown field fails all
        if line:
            smi.update(zip((f.replace(".", "_") for f in fields.split(",")), (v.strip() for v in line.splitlines()[0].split(","))))
    info["nvidia_smi"] = smi or None
    commit = _run(["git", "-C", str(ROOT), "rev-parse", "HEAD"])
    manifest = ROOT / ".whl" / "MANIFEST.json"
    prepared = json.loads(manifest.read_text()) if manifest.is_file() else None
    info["commit"] = commit or (prepared or {}).get("commit")
    info["carry_manifest"] = {k: prepared.get(k) for k in ("prepared", "commit", "data")} if prepared else None
    if args.install_report and Path(args.install_report).is_file():
        info["wheel_install"] = json.loads(Path(args.install_report).read_text())
    data = Path(args.data)
    info["data"] = {"path": args.data, "files": {f.name: f.stat().st_size for f in sorted(data.glob("*.zip"))} if data.is_dir() else None}
    return info


# --- running the sections --------------------------------------------------------------------


class Check:
    """The report, the deadline and the log; runs one section subprocess at a time."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.t0 = args.started or time.time()
        self.deadline = self.t0 + args.deadline
        self.out = Path(args.out)
        self.log = self.out.with_suffix(".log")
        self.work = Path(tempfile.mkdtemp(prefix="byol-gpu-check-"))  # the sections' own files; merged into out
        self.log.write_text("")
        self.report: dict[str, Any] = {
            "what": "byol-course GPU check (benchmarks/gpu_check.sh)",
            "command": " ".join(shlex.quote(a) for a in sys.argv),
            "mode": "tiny (rehearsal)" if args.tiny else "full",
            "deadline_seconds": args.deadline,
            "goals": GOALS,
            "sections": {},
        }
        self.save()

    def left(self) -> float:
        return self.deadline - time.time()

    def save(self) -> None:
        self.report["elapsed_seconds"] = round(time.time() - self.t0, 1)
        atomic_write_json(self.report, self.out)

    def run(self, name: str, cmd: list[str], timeout: float, least: float = 15.0) -> dict[str, Any]:
        """Run one section; its JSON (whatever it wrote, also when killed) and its outcome go into the report.

        A section whose timeout would be under `least` seconds is not started: it is recorded as skipped."""
        if timeout < least:
            entry = {"ok": False, "returncode": None, "seconds": 0.0, "result": None, "log_tail": None,
                     "error": f"skipped: {max(timeout, 0):.0f} s left for it under the {self.args.deadline:.0f} s deadline"}
            self.report["sections"][name] = entry
            self.save()
            print(f"== {name}: {entry['error']}", flush=True)
            return entry
        result_file = self.work / f"{name}.json"
        result_file.unlink(missing_ok=True)
        cmd = [c.replace("{json}", str(result_file)) for c in cmd]
        print(f"== {name}: {' '.join(cmd[1:])} (timeout {timeout:.0f} s, {self.left():.0f} s left)", flush=True)
        t = time.time()
        with open(self.log, "a") as log:
            log.write(f"\n===== {name}: {' '.join(cmd)}\n")
            log.flush()
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                rc = proc.wait(timeout=timeout)
                error = None if rc == 0 else f"exited with status {rc}"
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGTERM)  # the section and its children (DataLoader workers)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                rc, error = None, f"timed out after {timeout:.0f} s (stopped; what it wrote before is kept)"
        seconds = time.time() - t
        result = None
        if result_file.is_file():
            try:
                result = json.loads(result_file.read_text())
            except json.JSONDecodeError as e:
                error = (error + "; " if error else "") + f"its JSON could not be read ({e})"
        entry = {"ok": error is None, "returncode": rc, "seconds": round(seconds, 1), "error": error,
                 "result": result, "log_tail": None if error is None else _tail(self.log, 3000)}
        self.report["sections"][name] = entry
        self.save()
        print(f"   {name}: {'ok' if error is None else error} ({seconds:.0f} s)", flush=True)
        return entry


def _tail(path: Path, n: int) -> str:
    text = path.read_text(errors="replace")
    return text[-n:]


def plan(args: argparse.Namespace, check: Check) -> None:
    py = sys.executable
    tiny = args.tiny
    dev = ["--device", "cpu"] if tiny else ["--device", "cuda"]
    wanted = args.sections.split(",") if args.sections else list(SECTIONS)
    unknown = set(wanted) - set(SECTIONS)
    if unknown:
        raise SystemExit(f"--sections: unknown {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    data = args.data
    train_zip = str(Path(data) / "cifar10-jpg-train.zip") if data != "embedded" else "embedded"
    if data == "embedded" and not tiny:
        check.report["warning"] = ("no CIFAR-10 zips (.cifar10/ not carried?): the step benchmark and the pretraining "
                                   "use the generated dataset instead")
        print(f"warning: {check.report['warning']}", flush=True)

    if "env" in wanted:
        cmd = [py, __file__, "--env-section", "{json}", "--data", data]
        if args.install_report:
            cmd += ["--install-report", args.install_report]
        env = check.run("env", cmd, 60)
        if not tiny and not (env.get("result") or {}).get("cuda_available"):
            check.report["error"] = "no CUDA device visible to torch: the GPU sections were not run"
            check.save()
            raise SystemExit(check.report["error"])
    if "tests" in wanted:
        check.run("tests", [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", "tests/test_cuda.py",
                            "--junitxml", "{json}.xml"] , min(150, check.left() - 60))
        _junit_summary(check)
    if "precision" in wanted:
        check.run("precision", [py, "benchmarks/gpu_precision.py", *dev, "--json", "{json}", *(["--tiny"] if tiny else [])],
                  min(120, check.left() - 60))
    if "step" in wanted:
        step = [py, "benchmarks/bench_step.py", *dev, "--peers", "auto", "--data", train_zip, "--json", "{json}",
                "--tta-from", "none"]
        # 20 timed steps after 5 warm-up ones: lightly's prefetched batches (2 per worker) are a small part of them
        step += ["--tiny", "--no-memory", "--workers", "1,2"] if tiny else ["--workers", "2,16", "--repeats", "3", "--warmup", "5", "--steps", "20"]
        check.run("step", step, min(180, check.left() - 60))
    if "compile" in wanted:
        cap = min(60 if tiny else 110, check.left() - 150)  # leave the pretraining at least about 2 minutes
        comp = [py, "benchmarks/compile_check.py", *dev, "--data", train_zip, "--json", "{json}",
                "--budget", f"{max(cap - 10, 10):.0f}"] + (["--tiny"] if tiny else [])
        check.run("compile", comp, cap)
    if "pretrain" in wanted:
        budget = min(args.pretrain_minutes * 60, check.left() - 45)
        pre = [py, "benchmarks/pretrain_timed.py", *dev, "--minutes", f"{max(budget, 10) / 60:.3f}", "--data", data,
               "--json", "{json}"] + (["--tiny"] if tiny else [])
        check.run("pretrain", pre, budget + 40, least=100)


def _junit_summary(check: Check) -> None:
    """The tests section's per-test outcomes, from pytest's JUnit XML."""
    import xml.etree.ElementTree as ET

    entry = check.report["sections"].get("tests")
    xml = check.work / "tests.json.xml"
    if entry is None or not xml.is_file():
        return
    cases = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        outcome = "passed"
        for tag in ("failure", "error", "skipped"):
            el = case.find(tag)
            if el is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                outcome += f": {(el.get('message') or '').strip()[:300]}"
        cases[f"{case.get('classname')}::{case.get('name')}"] = outcome
    counts: dict[str, int] = {}
    for o in cases.values():
        counts[o.split(":")[0]] = counts.get(o.split(":")[0], 0) + 1
    entry["result"] = {"counts": counts, "tests": cases}
    check.save()


def goals(report: dict[str, Any]) -> dict[str, Any]:
    """Each goal with the measured value it is judged on (None where the section did not measure it)."""
    s = report["sections"]
    pre = (s.get("pretrain") or {}).get("result") or {}
    step = (s.get("step") or {}).get("result") or {}
    epochs = [e["train_epoch_seconds"] for e in pre.get("epochs", []) if e.get("train_epoch_seconds")]
    ratio = (step.get("ratios_ours_over") or {}).get("lightly (16 workers)")
    knn = pre.get("final_knn_top1")
    epoch_s = statistics.median(epochs) if epochs else None
    return {
        "epoch_seconds_median": epoch_s,
        "epoch_goal_met": None if epoch_s is None else epoch_s <= GOALS["epoch_seconds_max"],
        "step_ratio_over_lightly_16_workers": ratio,
        "step_goal_met": None if ratio is None else ratio >= GOALS["step_ratio_over_lightly_16_workers_min"],
        "knn_top1": knn,
        "knn_goal_met": None if knn is None else knn >= GOALS["knn_top1_min"] and not pre.get("stopped_early", False),
        "pretrain_batch_precision": f"batch {pre.get('batch_size')}, {pre.get('precision')}" if pre else None,
    }


def summary(report: dict[str, Any]) -> str:
    s = report["sections"]
    lines = ["", "== GPU check summary " + "=" * 50]
    env = (s.get("env") or {}).get("result") or {}
    gpu = env.get("gpu") or {}
    smi = env.get("nvidia_smi") or {}
    lines.append(f"card {gpu.get('name', 'none')} (cc {gpu.get('capability')}), driver {smi.get('driver_version')}, "
                 f"torch {env.get('torch')} CUDA {env.get('cuda')}, python {env.get('python')}, {env.get('date_utc')}")
    for name, entry in s.items():
        lines.append(f"{name:<10} {'ok' if entry['ok'] else 'FAILED: ' + str(entry['error'])} ({entry['seconds']} s)")
    tests = (s.get("tests") or {}).get("result") or {}
    if tests.get("counts"):
        lines.append(f"tests: {tests['counts']}")
    prec = (s.get("precision") or {}).get("result") or {}
    for mode, r in (prec.get("modes") or {}).items():
        lines.append(f"precision {mode:<10} ok={r.get('ok')} first loss {r.get('losses', [None])[0]} "
                     f"rel. diff vs fp32 {r.get('first_loss_rel_diff_vs_fp32')} step {r.get('step_ms_median')} ms")
    step = (s.get("step") or {}).get("result") or {}
    for name, r in (step.get("results") or {}).items():
        ratio = (step.get("ratios_ours_over") or {}).get(name)
        lines.append(f"step {name:<22} {r['images_per_s']:9.0f} images/s" + (f"  ours/this {ratio:.2f}x" if ratio else ""))
    pre = (s.get("pretrain") or {}).get("result") or {}
    if pre:
        lines.append(f"pretrain {pre.get('epochs_done')}/{pre.get('epochs_planned')} epochs of {pre.get('arch')} "
                     f"(batch {pre.get('batch_size')}, {pre.get('precision')}) in {pre.get('run_seconds')} s, "
                     f"kNN top-1 {pre.get('final_knn_top1')}")
    comp = (s.get("compile") or {}).get("result") or {}
    if comp:
        lines.append(f"compile eager {comp.get('eager', {}).get('images_per_s')} images/s, compiled "
                     f"{(comp.get('compiled') or {}).get('images_per_s')} images/s, first compiled steps "
                     f"{(comp.get('compiled') or {}).get('first_steps_seconds')} s")
    lines.append(f"goals: {json.dumps(report.get('goals_measured'))}")
    lines.append(f"elapsed {report.get('elapsed_seconds')} s of {report.get('deadline_seconds')} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "gpu_check.json"))
    p.add_argument("--data", default=None, help="folder with the CIFAR-10 JPEG zips (default .cifar10, else ../shared/data)")
    p.add_argument("--tiny", action="store_true", help="CPU, tiny sizes: the rehearsal")
    p.add_argument("--sections", default=None, help=f"comma list from {','.join(SECTIONS)} (default all)")
    p.add_argument("--deadline", type=float, default=None, help="seconds for the whole check (default 540; tiny 900)")
    p.add_argument("--pretrain-minutes", type=float, default=6.0, help="the pretraining budget, if the deadline leaves it")
    p.add_argument("--started", type=float, default=None, help=argparse.SUPPRESS)
    p.add_argument("--install-report", default=None, help=argparse.SUPPRESS)
    p.add_argument("--env-section", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.data = args.data or default_data()
    if args.env_section:
        atomic_write_json(env_section(args), Path(args.env_section))
        return 0
    args.deadline = args.deadline or (900.0 if args.tiny else 540.0)
    check = Check(args)
    try:
        plan(args, check)
    except SystemExit as e:
        print(f"stopped: {e}", flush=True)
    check.report["goals_measured"] = goals(check.report) if not args.tiny else "not judged: tiny sizes on the CPU (rehearsal)"
    check.save()
    print(summary(check.report), flush=True)
    print(f"wrote {check.out} and {check.log}")
    shutil.rmtree(check.work, ignore_errors=True)
    return 0 if all(e["ok"] for e in check.report["sections"].values()) and "error" not in check.report else 1


if __name__ == "__main__":
    sys.exit(main())
