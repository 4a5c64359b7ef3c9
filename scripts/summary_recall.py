#!/usr/bin/env python3
"""Recall of expected facts in a meeting summary.

Usage: summary_recall.py FACTS.json EXPORT.json
EXPORT.json is `foreman export MEETING --format json` (its "summary" object). Prints one
line per fact (hit or miss, and the item that carried it), then the recall, and last a
JSON line with the figures. Exits 1 when the export has no summary.
"""
import json
import sys


def units(summary):
    """The texts a fact may be found in: the overview and each item (text, owner, due)."""
    out = [("overview", summary.get("overview", ""))]
    for kind in ("decisions", "action_items", "open_questions"):
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
    print(json.dumps({"facts": len(facts), "recalled": hits, "recall": round(recall, 3), "model": summary.get("model")}))


if __name__ == "__main__":
    main()
