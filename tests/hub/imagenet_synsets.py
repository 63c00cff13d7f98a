"""The WordNet ids (synsets) of ImageNet-1k's classes in output order, derived from WordNet 3.0.

ImageNet's classes are WordNet 3.0 noun synsets, and its output order is their ids sorted. For
each of torchvision's 1000 category names this finds the noun synsets having it as first lemma
(else as any lemma), then keeps the one strictly increasing sequence through them. Where a name
has several senses that all fit the order (abacus: the calculator or the slab atop a column),
SENSES says which one ImageNet uses, as its published synset lists state; every choice must be
one of WordNet's candidates. Prints the ids as JSON (tests/hub/synsets.test.ts compares them with
src/data/imagenet_classes.ts). Needs Debian's wordnet-base and python3-torchvision.
"""
import json
import re
import sys

from torchvision.models import ResNet50_Weights

DATA_NOUN = "/usr/share/wordnet/data.noun"
# Names torchvision disambiguated by appending words: the WordNet lemma to look up instead.
RENAMED = {"crane bird": "crane", "maillot tank suit": "tank suit"}
# Senses ImageNet uses where more than one fits the order: class index -> WordNet 3.0 offset.
SENSES = {
    55: 1729977, 102: 1872401, 277: 2119022, 278: 2119789, 281: 2123045, 345: 2403003, 398: 2666196,
    406: 2699494, 408: 2704792, 411: 2730930, 417: 2782093, 427: 2795169, 431: 2804414, 438: 2815834,
    443: 2834397, 446: 2840245, 450: 2860847, 456: 2879718, 458: 2892201, 468: 2930766, 471: 2950826,
    476: 2966193, 483: 2980441, 488: 2999410, 501: 3045698, 502: 3047690, 506: 3065424, 511: 3100240,
    520: 3131574, 529: 3188531, 536: 3216828, 538: 3220513, 541: 3249569, 544: 3259280, 549: 3291819,
    553: 3337140, 558: 3372029, 562: 3388043, 578: 3450230, 586: 3478589, 587: 3481172, 594: 3495258,
    597: 3527444, 600: 3532672, 606: 3584829, 610: 3595614, 624: 3661043, 628: 3673027, 631: 3690938,
    636: 3709823, 643: 3724870, 664: 3782006, 666: 3786901, 667: 3787032, 693: 3873416, 697: 3877472,
    698: 3877845, 714: 3929660, 717: 3930630, 718: 3933933, 723: 3944341, 726: 3954731, 727: 3956157,
    733: 3976657, 738: 3991062, 742: 4004767, 745: 4009552, 753: 4040759, 758: 4067472, 766: 4111531,
    771: 4125021, 778: 4141975, 780: 4147183, 782: 4152593, 783: 4153751, 787: 4192698, 792: 4208210,
    800: 4243546, 801: 4251144, 813: 4270147, 815: 4275548, 816: 4277352, 819: 4296562, 827: 4330267,
    830: 4336792, 834: 4350905, 840: 4367480, 844: 4372370, 847: 4389033, 866: 4465501, 881: 4515003,
    884: 4523525, 894: 4550184, 896: 4553703, 897: 4554684, 902: 4579432, 908: 4592741, 910: 4597913,
    914: 4612504, 982: 10148035, 987: 12144580,
}


def synsets():
    names = ResNet50_Weights.IMAGENET1K_V1.meta["categories"]
    first, anywhere = {}, {}
    with open(DATA_NOUN, encoding="latin-1") as f:
        for line in f:
            if line.startswith("  "):
                continue
            parts = line.split()
            offset, count = int(parts[0]), int(parts[3], 16)
            for k in range(count):
                lemma = re.sub(r"\(.*\)$", "", parts[4 + 2 * k]).lower()
                anywhere.setdefault(lemma, set()).add(offset)
                if k == 0:
                    first.setdefault(lemma, set()).add(offset)
    candidates = []
    for name in names:
        key = RENAMED.get(name, name).lower().replace(" ", "_")
        c = sorted(first.get(key) or anywhere.get(key) or [])
        if not c:
            sys.exit(f"no WordNet noun has the lemma {key!r}")
        candidates.append(c)
    # The one increasing path: the smallest and the largest feasible choice at each index agree
    # except where SENSES decides.
    chosen, previous = [], -1
    for i, c in enumerate(candidates):
        if i in SENSES:
            if SENSES[i] not in c:
                sys.exit(f"class {i} ({names[i]}): {SENSES[i]:08d} is not among WordNet's {c}")
            pick = SENSES[i]
        else:
            later = [x for x in c if x > previous]
            if not later:
                sys.exit(f"class {i} ({names[i]}): no sense after {previous:08d}")
            pick = later[0]
        if pick <= previous:
            sys.exit(f"class {i} ({names[i]}): {pick:08d} breaks the sorted order")
        chosen.append(pick)
        previous = pick
    # Each unlisted index must have had exactly one sense that keeps the order.
    for i, c in enumerate(candidates):
        if i in SENSES:
            continue
        low = chosen[i - 1] if i else -1
        high = chosen[i + 1] if i + 1 < len(chosen) else 10**9
        fits = [x for x in c if low < x < high]
        if fits != [chosen[i]]:
            sys.exit(f"class {i} ({names[i]}): ambiguous among {fits}; add it to SENSES")
    return [f"n{x:08d}" for x in chosen]


if __name__ == "__main__":
    print(json.dumps(synsets()))
