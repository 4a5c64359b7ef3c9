#!/usr/bin/env python3
"""Recall of expected facts in a meeting summary.

Usage: summary_recall.py FACTS.json EXPORT.json [SCRIPT.txt]
EXPORT.json is `foreman export MEETING --format json` (its "summary" object). Prints one
line per fact (hit or miss, and the item that carried it), then the recall; then each
summary item that the meeting's reference script (SCRIPT.txt, default: the facts file's
"meeting" with .txt, one "Speaker: words" line per turn) does not support, and last a
JSON line with the figures. Exits 1 when the export has no summary.

Two support checks, both independent of the summary worker's own: against the script that
was read aloud (so an item that is a misheard transcript line counts as unsupported), and
against the transcript lines the item cites (the export's segments). An item is supported
when at least half of its content words (three letters or more) occur in one script line
(or two adjacent ones), or in its cited lines.
"""
import json
import os
import re
import sys

STOP = {"the", "and", "for", "that", "this", "with", "are", "was", "were", "has", "have", "had", "but", "from",
        "our", "you", "your", "its", "they", "them", "then", "than", "there", "what", "when", "which", "all", "any",
        "can", "one", "also", "will"}


def words(s):
    return [w for w in re.findall(r"[a-z0-9']+", s.lower()) if len(w) >= 3 and w not in STOP]


def unsupported(summary, script_lines):
    """Items whose words the script does not say."""
    lines = [set(words(l)) for l in script_lines]
    pairs = lines + [a | b for a, b in zip(lines, lines[1:])]
    bad = []
    for kind in ("key_points", "decisions", "action_items", "open_questions"):
        for item in summary.get(kind, []):
            mine = words(item.get("text", ""))
            if not mine:
                continue
            best = max((sum(w in l for w in mine) / len(mine) for l in pairs), default=0.0)
            if best < 0.5:
                bad.append((kind, item.get("text", ""), round(best, 2)))
    return bad


def unsupported_by_cited(summary, segments):
    """Items whose own cited transcript lines do not say their words (the issue's definition;
    the same overlap rule as above, on the export's segments, not the worker's check)."""
    bad = []
    for kind in ("key_points", "decisions", "action_items", "open_questions"):
        for item in summary.get(kind, []):
            mine = words(item.get("text", ""))
            cited = set()
            for n in item.get("lines") or []:
                if isinstance(n, int) and 0 <= n < len(segments):
                    cited |= set(words(segments[n].get("text", "")))
            if not item.get("lines") or (mine and sum(w in cited for w in mine) / len(mine) < 0.5):
                bad.append((kind, item.get("text", "")))
    return bad


def units(summary):
    """The texts a fact may be found in: the overview and each item (text, owner, due)."""
    out = [("overview", summary.get("overview", ""))]
    for kind in ("decisions", "action_items", "open_questions", "key_points"):
        for item in summary.get(kind, []):
            text = " ".join(str(item.get(k) or "") for k in ("owner", "text", "due"))
            out.append((kind, text))
    return out


def main():
    facts = json.load(open(sys.argv[1]))["facts"]
    export = json.load(open(sys.argv[2]))
    summary = export.get("summary")
    if not summary:
        print(f"{sys.argv[2]} has no summary (did the summary worker run?)", file=sys.stderr)
        sys.exit(1)
    hits = 0
    for f in facts:
        found = None
        for kind, text in units(summary):
            low = text.lower()
            if all(any(w in low for w in group) for group in f["groups"]):
                found = (kind, text)
                break
        hits += found is not None
        where = f"{found[0]}: {found[1]!r}" if found else "-"
        print(f"{'hit ' if found else 'miss'}  {f['id']:<28} {where}")
    recall = hits / len(facts) if facts else 0.0
    print(f"recall {hits}/{len(facts)} = {recall:.2f}")
    meta = json.load(open(sys.argv[1]))
    script = sys.argv[3] if len(sys.argv) > 3 else os.path.splitext(meta.get("meeting", ""))[0] + ".txt"
    if not os.path.isabs(script) and not os.path.exists(script):
        script = os.path.join(os.path.dirname(os.path.abspath(sys.argv[1])), "..", script)
    lines = [l.split(":", 1)[-1] for l in open(script).read().splitlines() if l.strip()]
    bad = unsupported(summary, lines)
    items = sum(len(summary.get(k, [])) for k in ("key_points", "decisions", "action_items", "open_questions"))
    for kind, text, score in bad:
        print(f"unsupported  {kind}: {text!r} (best script line overlap {score})")
    print(f"unsupported items {len(bad)}/{items} (against {script}; a misheard line counts)")
    by_cited = unsupported_by_cited(summary, export.get("segments") or [])
    for kind, text in by_cited:
        print(f"uncited  {kind}: {text!r}")
    print(f"items their cited lines do not support {len(by_cited)}/{items}")
    print(json.dumps({"facts": len(facts), "recalled": hits, "recall": round(recall, 3), "items": items,
                      "unsupported": len(bad), "unsupported_vs_cited": len(by_cited), "model": summary.get("model")}))


if __name__ == "__main__":
    main()
