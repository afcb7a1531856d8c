#!/usr/bin/env python3
"""mkman.py - the man pages' scdoc(5) sources, made from Markdown.

Each man page has one source, written in the plain Markdown that the rest
of docs/ uses (headings, paragraphs, `code`, **bold**, *emphasis*, lists,
definition lists `term` / `: text`, tables, fenced code), so that it reads
well on a forge and is the only text to edit: peercachectl(8) is
docs/peercachectl.md itself, the others are man/*.md.  scdoc turns the
result into roff.

peercache.conf(5) gets its key reference made here, not written: the keys,
their kinds and their defaults come from the code (pc-config-keys, which
prints the table of common/config.c), and each key's text from its comment
in the sample configuration (systemd/peercache.conf.example).  A key of
the code that the sample does not document, a key the sample documents
that the code does not have, or a sample default that differs from the
code's, stops the build: the three cannot drift apart.

usage: mkman.py [--docdir DIR] [--version V] [--keys KEYS.tsv
                --sample peercache.conf.example] INPUT.md OUTPUT.scd
"""
import argparse
import re
import sys

# ---- inline text -------------------------------------------------------


def escape(text):
    """Plain text for scdoc: its markup characters made literal."""
    text = text.replace("\\", "\\\\")
    return re.sub(r"([*_])", r"\\\1", text)


class Inline:
    """Markdown inline markup to scdoc, with docs/X.md pointed at DOCDIR."""

    TOKEN = re.compile(r"`([^`]+)`|\*\*([^*]+)\*\*|\*([^*\s][^*]*)\*"
                       r"|\[([^\]]+)\]\(([^)]+)\)")

    def __init__(self, docdir):
        self.docdir = docdir

    def paths(self, text):
        text = text.replace("@DOCDIR@", self.docdir)
        return re.sub(r"(?<![\w/.])docs/([A-Za-z]+\.md)",
                      self.docdir + r"/\1", text)

    def __call__(self, text):
        out, pos = [], 0
        text = self.paths(text)
        for m in self.TOKEN.finditer(text):
            out.append(escape(text[pos:m.start()]))
            code, strong, em, label, url = m.groups()
            if code is not None:
                out.append("*" + escape(code) + "*")
            elif strong is not None:
                out.append("*" + escape(strong) + "*")
            elif em is not None:
                out.append("_" + escape(em) + "_")
            else:
                out.append(escape(label))
                if re.match(r"https?:", url):
                    out.append(" <" + escape(url) + ">")
            pos = m.end()
        out.append(escape(text[pos:]))
        return "".join(out)


# ---- blocks --------------------------------------------------------------


def table(rows, inline):
    """A Markdown table (header, rule, rows) as an scdoc table: borders,
    the header bold, the last column expanded to the page's width."""
    cells = [[c.strip() for c in r.strip().strip("|").split("|")]
             for r in rows]
    out = []
    for i, row in enumerate([cells[0]] + cells[2:]):
        for j, cell in enumerate(row):
            if i == 0:
                text = "*" + escape(re.sub(r"[`*]", "", cell)) + "*"
                first = "[" if j == 0 else ":"
                align = "<" if j == len(row) - 1 else "["
            else:
                text = inline(cell)
                first = "|" if j == 0 else ":"
                align = " "
            out.append(f"{first}{align} {text}")
    return out


def convert(lines, inline, title_extra):
    """Markdown lines to scdoc lines."""
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        if i == 0:
            m = re.match(r"#\s+(\S+\(\d\))\s*$", line)
            if not m:
                sys.exit("mkman: the first line must be '# name(section)'")
            out.append(m.group(1) + title_extra)
            i += 1
            continue
        if line.startswith("<!--"):
            while "-->" not in lines[i]:
                i += 1
            i += 1
            continue
        m = re.match(r"(#{2,3})\s+(.*)$", line)
        if m:
            out += ["", "#" * (len(m.group(1)) - 1) + " " + m.group(2), ""]
            i += 1
            continue
        if line.startswith("```"):
            out.append("```")
            i += 1
            while not lines[i].startswith("```"):
                out.append(lines[i].replace("\\", "\\\\"))
                i += 1
            out.append("```")
            i += 1
            continue
        if line.startswith("|") and i + 1 < len(lines) and \
                re.match(r"\|[-:| ]+\|\s*$", lines[i + 1]):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(lines[i])
                i += 1
            out += [""] + table(rows, inline) + [""]
            continue
        # A definition list entry: a term, then ": text" (indented rest),
        # paragraphs joined into one line each.
        if i + 1 < len(lines) and lines[i + 1].startswith(": ") and line:
            out.append(inline(line))
            i += 1
            para = []
            while i < len(lines) and (lines[i].startswith(": ") or
                                      lines[i].startswith("  ") or
                                      (lines[i] == "" and i + 1 < len(lines)
                                       and lines[i + 1].startswith("  "))):
                text = lines[i][2:].strip()
                if text:
                    para.append(text)
                else:
                    out += ["\t" + inline(" ".join(para)), ""]
                    para = []
                i += 1
            if para:
                out.append("\t" + inline(" ".join(para)))
            continue
        m = re.match(r"(\s*)([-*]|\d+\.)\s+(.*)$", line)
        if m and not line.startswith("**"):
            mark = "-" if m.group(2) in "-*" else "."
            depth = len(m.group(1))
            item = [m.group(3)]
            i += 1
            while i < len(lines) and lines[i].startswith(" " * (depth + 2)) \
                    and not re.match(r"\s*([-*]|\d+\.)\s", lines[i]):
                item.append(lines[i].strip())
                i += 1
            out.append(" " * depth + mark + " " + inline(" ".join(item)))
            continue
        if not line.strip():
            out.append("")
            i += 1
            continue
        para = []
        while i < len(lines) and lines[i].strip() and not (
                lines[i].startswith(("```", "#", "|", "<!--")) or
                re.match(r"\s*([-*]|\d+\.)\s", lines[i]) or
                (i + 1 < len(lines) and lines[i + 1].startswith(": "))):
            para.append(lines[i].strip())
            i += 1
        text = inline(" ".join(para))
        out.append("\\" + text if text.startswith((";", "-", ".")) else text)
    # scdoc wants one blank line between blocks, none doubled.
    tidy = []
    for line in out:
        if line == "" and tidy and tidy[-1] == "":
            continue
        tidy.append(line)
    return tidy


# ---- the key reference of peercache.conf(5) -------------------------------


def read_keys(path):
    keys = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            name, kind, has_default, default, scope = \
                line.rstrip("\n").split("\t")
            keys.append((name, kind, default if has_default == "1" else None,
                         scope))
    return keys


# Where a key may be given (pc-config-keys' SCOPE), as the reference says
# it; a host-wide key ("host") goes unsaid: the DESCRIPTION says that every
# key is host-wide unless marked.
SCOPES = {"host": None,
          "repository": "only in a [repository NAME] section",
          "both": "also in a [repository NAME] section",
          "single": "not with [repository NAME] sections"}


def read_sample(path, names):
    """The sample's sections, and per key its comment text and values."""
    sections, docs, values = [], {}, {}
    comment = []
    started = False
    with open(path, encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f]
    value_types = []
    in_types = False
    for line in lines:
        if not started:
            if line.strip() == "[peercache]":
                started = True
            elif line.startswith("# Value types"):
                in_types = True
            elif in_types and line.startswith("#"):
                value_types.append(line[2:] if line.startswith("# ") else "")
            continue
        m = re.match(r"# -+ (.*?) -+$", line)
        if m:
            title = re.sub(r"\s*\(.*\)", "", m.group(1)).strip()
            sections.append((title, [], []))
            comment = []
            continue
        m = re.match(r"#(\w+) =\s?(.*)$", line)
        if m and m.group(1) in names:
            name = m.group(1)
            if name not in docs:
                docs[name] = comment
                if not sections:
                    sections.append(("", [], []))
                sections[-1][1].append(name)
            values.setdefault(name, []).append(m.group(2))
            comment = []
            continue
        if m:
            sys.exit(f"mkman: {path}: '{m.group(1)}' is not a key of the "
                     "daemon (common/config.c)")
        if line.startswith("#"):
            comment.append(line[2:] if line.startswith("# ") else "")
        elif not line.strip():
            # A block that no key follows: the section's introduction.
            if comment and sections and not sections[-1][1] and \
                    not sections[-1][2]:
                sections[-1][2].extend(comment)
            comment = []
    while value_types and not value_types[-1].strip():
        value_types.pop()
    return sections, docs, values, value_types


def paragraphs(comment):
    paras, cur = [], []
    for line in comment:
        if line.strip():
            cur.append(line.strip())
        elif cur:
            paras.append(" ".join(cur))
            cur = []
    if cur:
        paras.append(" ".join(cur))
    return [re.sub(r"\s+", " ", p) for p in paras]


# The code's kinds of value, in the words of the sample's "Value types".
KINDS = {"list": "text", "milliseconds": "ms", "level": "error|warn|info|debug"}


def key_reference(keys_path, sample_path, inline):
    keys = read_keys(keys_path)
    names = {k[0] for k in keys}
    sections, docs, values, value_types = read_sample(sample_path, names)
    missing = [k[0] for k in keys if k[0] not in docs]
    if missing:
        sys.exit(f"mkman: {sample_path} does not document "
                 f"{', '.join(missing)}")
    by_name = {k[0]: k for k in keys}
    out = ["# VALUES", "", "```"]
    out += [v.replace("\\", "\\\\") for v in value_types]
    out += ["```", "", "# KEYS", ""]
    for title, section_keys, intro in sections:
        if title:
            out += ["## " + escape(title), ""]
        for para in paragraphs(intro):
            out += [inline(para), ""]
        for name in section_keys:
            _, kind, default, scope = by_name[name]
            if default is not None and values[name] != [default]:
                sys.exit(f"mkman: {sample_path}: #{name} = "
                         f"{values[name][0]}, but the daemon's default is "
                         f"'{default}' (common/config.c)")
            said = []
            if kind == "list":
                said.append("repeatable")
            if default is None:
                said.append("no default")
            elif default == "":
                said.append("default: empty")
            else:
                said.append("default: " + escape(default))
            if SCOPES[scope]:
                said.append(escape(SCOPES[scope]))
            word = KINDS.get(kind, kind)
            out.append(f"*{escape(name)}* = _{escape(word)}_ "
                       f"({'; '.join(said)})")
            for n, para in enumerate(paragraphs(docs[name])):
                if n:
                    out.append("")
                out.append("\t" + inline(para))
            out.append("")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--docdir", default="/usr/share/doc/peercache")
    ap.add_argument("--version", default="")
    ap.add_argument("--keys")
    ap.add_argument("--sample")
    ap.add_argument("input")
    ap.add_argument("output")
    args = ap.parse_args()
    inline = Inline(args.docdir)
    with open(args.input, encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f]
    extra = f' "peercache {args.version}"' if args.version else ""
    out = []
    for line in convert(lines, inline, extra):
        if line == "@KEYS@":
            if not (args.keys and args.sample):
                sys.exit("mkman: @KEYS@ needs --keys and --sample")
            out += key_reference(args.keys, args.sample, inline)
        else:
            out.append(line)
    with open(args.output, "w", encoding="utf-8") as f:
        f.write("\n".join(out).rstrip("\n") + "\n")


if __name__ == "__main__":
    main()
