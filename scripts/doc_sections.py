"""Rewrites one generated section of a Markdown document, keeping the rest:
the section runs from its heading to the line `<!-- end of generated part -->`
(hand-written reading notes may follow it), or to the next `## ` heading in
an older document without that line."""
from pathlib import Path

END = "<!-- end of generated part -->"


def replace_section(doc: Path, heading: str, section: str) -> None:
    old = doc.read_text() if doc.exists() else "# Evaluation\n"
    new = section.rstrip() + "\n\n" + END + "\n"
    if heading in old:
        start = old.index(heading)
        stop = old.find(END, start)
        if stop >= 0:
            stop += len(END) + 1
        else:
            nxt = old.find("\n## ", start + len(heading))
            stop = nxt + 1 if nxt >= 0 else len(old)
        doc.write_text(old[:start] + new + old[stop:])
    else:
        doc.write_text(old.rstrip() + "\n\n" + new)
