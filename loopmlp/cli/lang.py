"""``loopmlp lang``: fast weight programmers on formal languages from the command line.

``lang list`` names the constructions and languages; ``lang run`` decides every prefix of a
string with certified margins; ``lang check`` checks a weight file (``.npz`` or
``.safetensors``, the reference implementation's parameter names) on every valid string up to a
length; ``lang dfa`` compiles a DFA given as JSON to an SRWM and proves it; ``lang save`` writes a
construction's weights.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import IO, Any

from constructions.fwp.io import load, save
from constructions.fwp.languages import LANGUAGES, Dfa, from_dfa, language
from constructions.fwp.models import init_state, step
from constructions.fwp.srwm import srwm_dfa
from proofs.fwp import construction, constructions, dfa_all_lengths
from proofs.fwp_checks import upto_result
from verify.errors import LoopmlpError
from verify.files import read_text
from verify.real import ops
from verify.real.numbers import ARB
from verify.result import Verdict

from .common import EXIT_OK, EXIT_REFUTED, command, verdict_exit


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``lang`` and its subcommands ``list``, ``run``, ``check``, ``dfa`` and ``save``."""
    command(p, description=__doc__)
    ls = p.add_subparsers(dest="lang_command", required=True, parser_class=type(p))

    q = ls.add_parser("list", help="the constructions and the languages")
    q.set_defaults(func=cmd_list)

    q = ls.add_parser("run", help="decide every prefix of a string, with certified margins")
    q.add_argument("construction", help="a name from `loopmlp lang list`")
    q.add_argument("string", help="the input, e.g. '(()('")
    q.add_argument("--json", action="store_true", help="print JSON instead of a table")
    q.set_defaults(func=cmd_run)

    q = ls.add_parser("check", help="check a weight file on every valid string up to a length")
    q.add_argument("weights", metavar="WEIGHTS", help=".npz or .safetensors file")
    q.add_argument("--model", required=True,
                   help="layer kind: lt, deltanet, recdelta or srwm (a comma list: one per layer)")
    q.add_argument("--language", required=True, help="a language from `loopmlp lang list`")
    q.add_argument("--max-length", type=int, required=True, metavar="L",
                   help="check every string up to this length (0 to 10000)")
    q.add_argument("--heads", help="heads per layer (comma list); needed for LT layers")
    q.add_argument("--ln-eps", type=float, default=1e-5,
                   help="layer norm epsilon (default 1e-05)")
    q.add_argument("--json", action="store_true", help="print the result as JSON")
    q.set_defaults(func=cmd_check)

    q = ls.add_parser("dfa", help="compile a DFA (JSON) to an SRWM and prove it")
    q.add_argument("file", metavar="DFA.json",
                   help='{"alphabet": ["a","b"], "delta": [[1,0],[0,1]], "accept": [1,0]}')
    q.add_argument("--max-length", type=int, default=8, metavar="L",
                   help="enumerate every string up to this length (0 to 30; default 8)")
    q.add_argument("--json", action="store_true", help="print the result as JSON")
    q.set_defaults(func=cmd_dfa)

    q = ls.add_parser("save", help="write a construction's weights (.npz or .safetensors)")
    q.add_argument("construction", help="a name from `loopmlp lang list`")
    q.add_argument("output", metavar="OUT", help="the file to write (.npz or .safetensors)")
    q.add_argument("--force", action="store_true", help="overwrite OUT")
    q.set_defaults(func=cmd_save)


def cmd_list(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """One line per construction, then the languages."""
    names = list(constructions())
    wide = max(len(n) for n in names)
    for name in names:
        m, lang = construction(name)
        print(f"{name:{wide}} {'+'.join(m.kinds):12} {lang.name:12} width {m.d}", file=out)
    print("languages: " + ", ".join(LANGUAGES), file=out)
    return EXIT_OK


def run_string(construction_name: str, text: str) -> dict[str, Any]:
    """Every prefix of ``text`` through a construction in arb: target, decision, margin."""
    model, lang = construction(construction_name)
    tokens = lang.encode(text)
    targets = lang.targets(tokens)
    st = init_state(model, ARB)
    prefixes = []
    for t, a in zip(targets, tokens):
        st, logits = step(model, ARB, st, a)
        dec = ops.argmax_decision(ARB, logits)
        prefixes.append({"target": t, "decision": dec.winner,
                         "margin_low": ops.class_margin(ARB, logits, dec.winner),
                         "certain": dec.certain})
    return {"construction": construction_name, "language": lang.name, "string": text,
            "prefixes": prefixes,
            "agrees": all(p["target"] == p["decision"] and p["certain"] for p in prefixes)}


def cmd_run(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    doc = run_string(args.construction, args.string)
    if args.json:
        print(json.dumps(doc, indent=2), file=out)
    else:
        print(f"{'prefix':>8}  {'target':>6}  {'decision':>8}  margin", file=out)
        for i, p in enumerate(doc["prefixes"]):
            mark = "" if p["target"] == p["decision"] else "  WRONG"
            print(f"{args.string[:i + 1]:>8}  {p['target']:>6}  {p['decision']:>8}  "
                  f"{p['margin_low']:.6g}{mark}", file=out)
        print("agrees with the language" if doc["agrees"] else "DISAGREES", file=out)
    return EXIT_OK if doc["agrees"] else EXIT_REFUTED


def _ints(option: str, text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        vals = [int(v) for v in text.split(",")]
    except ValueError:
        raise LoopmlpError(f"{option} {text!r}: need positive integers, comma-separated"
                           ) from None
    if any(v <= 0 for v in vals):
        raise LoopmlpError(f"{option} {text!r}: need positive integers")
    return vals


def check_file(path: str, kinds: list[str], language_name: str, max_length: int,
               heads: list[int] | None = None, ln_eps: float = 1e-5) -> dict[str, Any]:
    """``lang check`` as a library call: the verdict document."""
    if not 0 <= max_length <= 10_000:
        raise LoopmlpError(f"--max-length {max_length}: need 0..10000")
    if not 0 < ln_eps < 1:
        raise LoopmlpError(f"--ln-eps {ln_eps}: need a number in (0, 1)")
    lang = language(language_name)
    model = load(path, kinds, lang.alphabet, heads, ln_eps)
    if model.classes != len(lang.classes):
        raise LoopmlpError(f"{path}: out_layer has {model.classes} classes, the language "
                           f"{lang.name} has {len(lang.classes)}")
    r = upto_result(f"{path}/{lang.name}/upto[{max_length}]", model, lang, max_length)
    doc: dict[str, Any] = {"weights": path, "language": lang.name, "max_length": max_length,
                           "verdict": r.verdict.label, "checked": r.checked, "total": r.total,
                           "min_margin": r.details.get("min_margin"), "reason": r.reason}
    if r.counterexample is not None:
        cx = r.counterexample.to_json()
        doc["failure"] = {"string": cx["inputs"]["string"], "target": cx["spec"]["class"],
                          "decision": cx["network"]["class"]}
    return doc


def cmd_check(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    kinds = [k.strip() for k in args.model.split(",")]
    doc = check_file(args.weights, kinds, args.language, args.max_length,
                     _ints("--heads", args.heads), args.ln_eps)
    verdict = Verdict[doc["verdict"].upper()]
    if args.json:
        print(json.dumps(doc, indent=2), file=out)
    elif "failure" in doc:
        f = doc["failure"]
        print(f"{args.weights}: REFUTED {f['string']!r}: decision {f['decision']}, target "
              f"{f['target']} ({doc['checked']} prefixes checked)", file=out)
    elif verdict is Verdict.PROVED:
        print(f"{args.weights}: PROVED every valid {doc['language']} string up to length "
              f"{doc['max_length']} ({doc['checked']} prefixes), certified minimum margin "
              f"{doc['min_margin']:.6g}", file=out)
    else:
        print(f"{args.weights}: UNKNOWN ({doc['reason']})", file=out)
    return verdict_exit(verdict)


def prove_dfa_file(path: str, max_length: int) -> dict[str, Any]:
    """Compile a DFA file to an SRWM, then prove it up to ``max_length`` and for every length."""
    if not 0 <= max_length <= 30:
        raise LoopmlpError(f"--max-length {max_length}: need 0..30")
    name, text = read_text(path, 1 << 20)
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        raise LoopmlpError(f"{name}: not JSON ({e})") from None
    dfa = Dfa.from_json(doc, name)
    if dfa.states * len(dfa.alphabet) > 400:
        raise LoopmlpError(f"{name}: {dfa.states} states x {len(dfa.alphabet)} symbols: need "
                           "at most 400 pairs")
    model = srwm_dfa(dfa, "srwm-user-dfa")
    lang = from_dfa("user-dfa", dfa)
    results = [upto_result(f"fwp/srwm/user-dfa/upto[{max_length}]", model, lang, max_length),
               dfa_all_lengths("fwp/srwm/user-dfa/all-lengths", model, dfa)]
    return {"dfa": name, "results": [r.to_json() for r in results],
            "lines": [r.line() for r in results],
            "verdict": min(r.verdict for r in results).label}


def cmd_dfa(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    doc = prove_dfa_file(args.file, args.max_length)
    if args.json:
        print(json.dumps({k: v for k, v in doc.items() if k != "lines"}, indent=2), file=out)
    else:
        for line in doc["lines"]:
            print(line, file=out)
    return verdict_exit(Verdict[doc["verdict"].upper()])


def cmd_save(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    model, _ = construction(args.construction)
    if Path(args.output).exists() and not args.force:
        raise LoopmlpError(f"{args.output}: already exists; pass --force to overwrite it")
    save(model, args.output)
    heads = ",".join(str(layer.heads) for layer, _ in model.blocks)
    print(f"{args.output}: {args.construction} ({'+'.join(model.kinds)}, heads {heads})",
          file=out)
    return EXIT_OK
