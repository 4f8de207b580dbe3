"""Golden instruction-following cases: every IFEval constraint type and 20+ IFBench ones.

Each case is one constraint (id + kwargs) with a response that follows it and
one that does not, and the expected (strict, loose) result of each response.
Responses are built by hand or from small generators below (a changed count
must flip the verdict); the expected values follow the IFEval/IFBench
definitions and are cross-checked against the if-verifiable reference in
tests/verirl/test_instruction.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TT, FF, FT = (True, True), (False, False), (False, True)

EN = (
    "The river runs quietly through the valley and the old mill stands beside it. "
    "Farmers bring their grain there every autumn and the miller greets them warmly."
)
FR = "Le petit chat dort tranquillement sur le canapé pendant que la pluie tombe doucement dehors."
DE = "Der kleine Hund schläft ruhig auf dem Sofa, während draußen der Regen leise fällt."
ES = "El pequeño perro duerme tranquilamente en el sofá mientras la lluvia cae suavemente afuera."


@dataclass
class Case:
    id: str
    kwargs: dict[str, Any]
    good: str
    bad: str
    good_expect: tuple[bool, bool] = TT
    bad_expect: tuple[bool, bool] = FF
    note: str = ""
    prompt: str | None = None
    name: str = field(default="")


def words(n: int, word: str = "tree") -> str:
    return " ".join([word] * n)


def sentences(n: int) -> str:
    return " ".join(f"Sentence number {i + 1} is here." for i in range(n))


def paragraphs(n: int, sep: str = "\n\n***\n\n") -> str:
    return sep.join(f"Paragraph {i + 1} talks about apples and pears." for i in range(n))


CASES: list[Case] = []


def add(*cases: Case) -> None:
    CASES.extend(cases)


# ------------------------------------------------------------------ IFEval: keywords
for kws in (["river"], ["river", "mill"], ["autumn", "grain", "miller"], ["valley"], ["greets", "farmers"]):
    add(Case("keywords:existence", {"keywords": kws}, EN, "Nothing relevant appears in this sentence at all."))
add(Case("keywords:existence", {"keywords": ["RIVER"]}, EN, "A stream, not a brook.", note="case-insensitive"))

for kw, n, rel in (("apple", 3, "at least"), ("apple", 3, "less than"), ("pear", 1, "at least"), ("pear", 2, "less than"),
                   ("banana", 5, "at least"), ("banana", 1, "less than")):
    many, few = " ".join([kw] * (n + 2)) + " end.", " ".join([kw] * max(n - 1, 0)) + " end."
    good, bad = (many, few) if rel == "at least" else (few, many)
    add(Case("keywords:frequency", {"keyword": kw, "frequency": n, "relation": rel}, good, bad))

for fw in (["bad"], ["evil", "harm"], ["river"], ["cat", "dog"], ["apple"], ["forbidden"]):
    add(Case("keywords:forbidden_words", {"forbidden_words": fw}, "A calm and quiet answer with none of them.",
             f"This answer mentions {fw[-1]} once."))
add(Case("keywords:forbidden_words", {"forbidden_words": ["cat"]}, "Concatenate the strings.", "The Cat sat.",
         note="whole words only, any case"))

for letter, n, rel in (("e", 5, "at least"), ("e", 5, "less than"), ("z", 2, "at least"), ("z", 1, "less than"),
                       ("q", 3, "at least"), ("a", 10, "less than")):
    many, few = ("x" + letter) * (n + 1), ("x" + letter) * max(n - 1, 0) + "x"
    good, bad = (many, few) if rel == "at least" else (few, many)
    add(Case("keywords:letter_frequency", {"letter": letter, "let_frequency": n, "let_relation": rel}, good, bad))

# ------------------------------------------------------------------ IFEval: language
for code, good in (("en", EN), ("fr", FR), ("de", DE), ("es", ES)):
    bad = EN if code != "en" else FR
    add(Case("language:response_language", {"language": code}, good, bad))
add(Case("language:response_language", {"language": "fr"}, FR + " " + FR, DE + " " + DE))

# ------------------------------------------------------------------ IFEval: length
for n, rel in ((3, "at least"), (3, "less than"), (5, "at least"), (2, "less than"), (1, "at least"), (10, "less than")):
    good, bad = (sentences(n), sentences(n - 1)) if rel == "at least" else (sentences(n - 1), sentences(n))
    if n == 1 and rel == "at least":
        bad = ""
    add(Case("length_constraints:number_sentences", {"num_sentences": n, "relation": rel}, good, bad))
add(Case("length_constraints:number_sentences", {"num_sentences": 2, "relation": "less than"},
         "Dr. Smith went to Washington.", "Dr. Smith went home. He slept.", note="Punkt knows Dr."))

for n in (1, 2, 3, 4, 5):
    add(Case("length_constraints:number_paragraphs", {"num_paragraphs": n}, paragraphs(n), paragraphs(n + 1),
             bad_expect=FT, note="loose drops a line, and a paragraph with it"))
add(Case("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "First part.\n***\nSecond part.",
         "First part.\n* * *\nSecond part.", note="IFEval's divider is ***, not Tulu's * * *"))
add(Case("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "First part. *** Second part.",
         "First part. *** *** Second part.", note="an empty paragraph breaks it"))

for n, rel in ((50, "at least"), (50, "less than"), (10, "at least"), (100, "less than"), (300, "at least"), (5, "less than")):
    good, bad = (words(n), words(n - 1)) if rel == "at least" else (words(n - 1), words(n))
    add(Case("length_constraints:number_words", {"num_words": n, "relation": rel}, good, bad))

for n, nth, fw in ((3, 1, "apples"), (3, 2, "pears"), (2, 2, "finally"), (4, 4, "summary"), (2, 1, "hello")):
    paras = [f"Filler paragraph number {i + 1}." for i in range(n)]
    paras[nth - 1] = f"{fw.capitalize()} begins this paragraph."
    good = "\n\n".join(paras)
    wrong = list(paras)
    wrong[nth - 1] = "Something else begins this paragraph."
    add(Case("length_constraints:nth_paragraph_first_word",
             {"num_paragraphs": n, "nth_paragraph": nth, "first_word": fw}, good, "\n\n".join(wrong)))
add(Case("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"},
         "One.\n\nThen two.", "One.\n\nThen two.\n\nThen three.", bad_expect=FT,
         note="paragraph count must match; loose drops the last line"))

# ------------------------------------------------------------------ IFEval: content
for n in (1, 2, 3, 4, 5):
    good = " ".join(f"[field{i}]" for i in range(n)) + " filled in."
    bad = " ".join(f"[field{i}]" for i in range(n - 1)) + " not enough."
    add(Case("detectable_content:number_placeholders", {"num_placeholders": n}, good, bad))

for marker in ("P.S.", "P.P.S", "Note:", "PS:", "Addendum"):
    body = "Main answer text here."
    good = f"{body}\n\n{marker} remember to drink water."
    add(Case("detectable_content:postscript", {"postscript_marker": marker}, good, body + " No postscript."))
add(Case("detectable_content:postscript", {"postscript_marker": "P.S."}, "Body.\n\np.s. lower case is fine",
         "Body. PS without dots."))

# ------------------------------------------------------------------ IFEval: format
for n in (1, 2, 3, 4, 5):
    good = "Intro:\n" + "\n".join(f"* point {i}" for i in range(n))
    bad = "Intro:\n" + "\n".join(f"* point {i}" for i in range(n + 1))
    add(Case("detectable_format:number_bullet_lists", {"num_bullets": n}, good, bad, bad_expect=FT,
             note="loose drops the last bullet"))
add(Case("detectable_format:number_bullet_lists", {"num_bullets": 2}, "- dash one\n- dash two", "- dash one\n\n**bold** line"))

for opt in ("My answer is yes.", "My answer is no.", "My answer is maybe."):
    add(Case("detectable_format:constrained_response", {}, opt, "Yes, definitely."))
add(Case("detectable_format:constrained_response", {}, "  My answer is no.  ", "My answer is perhaps."))

for n in (1, 2, 3, 4, 5):
    good = " ".join(f"*part {i}*" for i in range(n)) + " done"
    bad = " ".join(f"*part {i}*" for i in range(n - 1)) + " done"
    add(Case("detectable_format:number_highlighted_sections", {"num_highlights": n}, good, bad))
add(Case("detectable_format:number_highlighted_sections", {"num_highlights": 2}, "**bold one** and *two*", "** ** and *  *",
         note="empty highlights do not count"))

for splitter, n in (("Section", 2), ("SECTION", 3), ("Part", 2), ("Chapter", 4), ("Section", 1)):
    good = "\n\n".join(f"{splitter} {i + 1}\nText of this part." for i in range(n))
    bad = "\n\n".join(f"{splitter} {i + 1}\nText of this part." for i in range(n - 1)) or "No sections at all."
    add(Case("detectable_format:multiple_sections", {"section_spliter": splitter, "num_sections": n}, good, bad))

add(
    Case("detectable_format:json_format", {}, '{"a": 1, "b": [1, 2]}', "{'a': 1}"),
    Case("detectable_format:json_format", {}, '```json\n{"ok": true}\n```', "```json\n{ok: true}\n```"),
    Case("detectable_format:json_format", {}, "[1, 2, 3]", "[1, 2, 3"),
    Case("detectable_format:json_format", {}, '  {"k": "v"}  ', "plain text"),
    Case("detectable_format:json_format", {}, '"just a string"', "just a string"),
    Case("detectable_format:json_format", {}, "Here is the JSON:\n{\"a\": 1}", "Here it is: {a}",
         good_expect=FT, note="loose drops the first line"),
)

add(
    Case("detectable_format:title", {}, "<<My Poem>>\nRoses are red.", "My Poem\nRoses are red."),
    Case("detectable_format:title", {}, "Text then <<a title>> later.", "Text <<>> empty title."),
    Case("detectable_format:title", {}, "<<Joy>>", "<<split\nacross lines>>"),
    Case("detectable_format:title", {}, "<<Title With Spaces>>\nbody", "<Title>\nbody"),
    Case("detectable_format:title", {}, "**<<Bold Title>>**", "*Bold Title*"),
)

# ------------------------------------------------------------------ IFEval: combination
add(
    Case("combination:two_responses", {}, "First answer.\n******\nSecond answer.", "Only one answer."),
    Case("combination:two_responses", {}, "A\n******\nB", "Same\n******\nSame"),
    Case("combination:two_responses", {}, "One way.******Another way.", "A\n******\nB\n******\nC", bad_expect=FT,
         note="loose drops the first line"),
    Case("combination:two_responses", {}, "One way.******Another way.", "A ****** B ****** C"),
    Case("combination:two_responses", {}, "x ****** y", "x *** y"),
    Case("combination:two_responses", {}, "Alpha reply\n\n******\n\nBeta reply", "Alpha reply\n\n*****\n\nBeta reply"),
)
for p in ("Write a poem about the sea.", "What is 2+2?", "List three fruits.", "Describe Paris in one line.",
          "Explain gravity."):
    add(Case("combination:repeat_prompt", {"prompt_to_repeat": p}, f"{p}\nHere is my answer.",
             f"Sure! {p}\nHere is my answer."))

# ------------------------------------------------------------------ IFEval: start/end
for phrase in ("Is there anything else I can help with?", "Any other questions?", "Peace.", "THE END", "Let me know."):
    add(Case("startend:end_checker", {"end_phrase": phrase}, f"Main text.\n{phrase}", f"{phrase} Main text."))
add(Case("startend:end_checker", {"end_phrase": "Any other questions?"}, "Text.\nAny other questions?",
         "Text.\nAny other questions?\nThanks!", bad_expect=FT, note="loose drops the last line"))

add(
    Case("startend:quotation", {}, '"Wrapped in quotes."', "Not wrapped."),
    Case("startend:quotation", {}, '  "Spaces around are fine."  ', '"Only at the start.'),
    Case("startend:quotation", {}, '"Line one.\nLine two."', "'single quotes'"),
    Case("startend:quotation", {}, '""', '"'),
    Case("startend:quotation", {}, '"Yes."', 'Intro line\n"quoted body"', bad_expect=FT, note="loose drops the first line"),
)

# ------------------------------------------------------------------ IFEval: change case
for n, rel in ((2, "at least"), (2, "less than"), (4, "at least"), (1, "less than"), (3, "at least")):
    many = " ".join(["LOUD"] * (n + 1)) + " quiet words."
    few = " ".join(["LOUD"] * max(n - 1, 0)) + " quiet words."
    good, bad = (many, few) if rel == "at least" else (few, many)
    add(Case("change_case:capital_word_frequency", {"capital_frequency": n, "capital_relation": rel}, good, bad))
add(Case("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "less than"},
         "calm text only", "LOUD WORDS HERE\ncalm text only", bad_expect=FT, note="loose drops the first line"))

for text in (EN, "THIS ANSWER IS WRITTEN ENTIRELY IN CAPITAL LETTERS AS REQUESTED.",
             "The weather today is sunny and warm with a gentle breeze.", "Please send the report to the manager.",
             "Cats sleep for most of the day and hunt at night."):
    add(Case("change_case:english_capital", {}, text.upper(), text if not text.isupper() else text.lower()))

for text in (EN, "Cats sleep for most of the day and hunt at night.", "The meeting starts at nine in the morning.",
             "Please remember to water the plants on Friday."):
    add(Case("change_case:english_lowercase", {}, text.lower(), text))
add(Case("change_case:english_lowercase", {}, EN.lower(), "Title Line\n" + EN.lower(), bad_expect=FT,
         note="loose drops the first line"))

# ------------------------------------------------------------------ IFEval: punctuation
for good, bad in (("No commas here at all.", "One, comma."), ("Lists use semicolons; not commas.", "a,b"),
                  ("Numbers like 1000 are fine.", "Numbers like 1,000 are not."), ("Text\nwith lines", "Text\nwith, lines\nend"),
                  ("Unicode comma ， is not ASCII.", "Mixed ， and , commas.")):
    add(Case("punctuation:no_comma", {}, good, bad))
add(Case("punctuation:no_comma", {}, "Plain sentence.", "Sure, here it is:\nPlain sentence.", bad_expect=FT,
         note="loose drops the first line"))

# ------------------------------------------------------------------ IFEval: more mixed cases (markdown, wrappers)
add(
    Case("keywords:existence", {"keywords": ["budget"]}, "**Budget** first.", "Bud get split."),
    Case("keywords:frequency", {"keyword": "data", "frequency": 2, "relation": "at least"}, "Data and DATA.", "Data only."),
    Case("length_constraints:number_words", {"num_words": 4, "relation": "less than"}, "Three words here", "Sure thing:\nThree words here",
         bad_expect=FT, note="loose drops the preamble line"),
    Case("detectable_content:number_placeholders", {"num_placeholders": 2}, "Dear [name], at [address].", "Dear name at address."),
    Case("detectable_format:number_highlighted_sections", {"num_highlights": 1}, "A *key* point.", "A key point."),
    Case("detectable_format:title", {}, "<<Report>>\n\nBody text.", "Report\n\nBody text."),
    Case("detectable_format:multiple_sections", {"section_spliter": "Section", "num_sections": 2},
         "Section 1: intro\nSection 2: body", "Section: intro\nSection: body", note="a number must follow the splitter"),
    Case("detectable_content:postscript", {"postscript_marker": "P.S."}, "Hi.\nP.S. see you", "Hi.\nPS see you"),
    Case("startend:end_checker", {"end_phrase": "Is there anything else I can help with?"},
         '"Answer. Is there anything else I can help with?"', "Answer. Is there anything else I can help with? Yes.",
         note="quotes around the response are ignored"),
    Case("punctuation:no_comma", {}, "**Bold** and *italic* only.", "**Bold**, and more."),
)

# ------------------------------------------------------------------ IFBench (OOD constraints)
add(
    Case("count:word_count_range", {"min_words": 5, "max_words": 8}, words(6), words(9)),
    Case("count:word_count_range", {"min_words": 10, "max_words": 12}, words(10), words(9)),
    Case("count:unique_word_count", {"N": 5}, "one two three four five", "one one two two three"),
    Case("count:unique_word_count", {"N": 3}, "Red, blue. Green!", "red red red"),
    Case("ratio:stop_words", {"percentage": 40}, "Quantum chromodynamics describes strong interactions precisely.",
         "It is what it is and that is all there is to it."),
    Case("ratio:stop_words", {"percentage": 10}, "Bright stars shine.", "The cat is on the mat."),
    Case("count:conjunctions", {"small_n": 3}, "Tea and cake, but not now, or later.", "Tea and cake and more."),
    Case("count:numbers", {"N": 3}, "We saw 3 cats, 12 dogs and 7 birds.", "We saw 3 cats and 12 dogs."),
    Case("count:numbers", {"N": 1}, "Pi is about 3.14 here?", "No digits."),
    Case("words:palindrome", {}, "level civic radar rotor kayak refer madam racecar stats tenet done",
         "level civic radar rotor kayak refer madam racecar stats done"),
    Case("format:newline", {}, "One\nword\nper\nline", "Two words\nper line"),
    Case("words:repeats", {"small_n": 2}, "go go stop", "go go go stop"),
    Case("words:repeats", {"small_n": 1}, "every word differs here", "the cat and the dog"),
    Case("count:pronouns", {"N": 3}, "I told you that she/her was right.", "Dogs bark at night."),
    Case("count:pronouns", {"N": 2}, "We saw them.", "The cat sat."),
    Case("words:no_consecutive", {}, "Apples grow near orchards", "Big bears bite"),
    Case("format:title_case", {}, "This Is Title Case", "This is not title case"),
    Case("format:no_whitespace", {}, "NoSpacesAtAll", "Has spaces"),
    Case("custom:character_reverse", {}, "elgae dlab", "bald eagle"),
    Case("format:emoji", {}, "I like tea 🍵. You like coffee ☕.", "I like tea. You like coffee ☕."),
    Case("count:unique_word_count", {"N": 10}, " ".join(f"w{i}" for i in range(10)), " ".join(f"w{i}" for i in range(9))),
    Case("count:word_count_range", {"min_words": 1, "max_words": 3}, "just three words", "now four words here"),
)

for i, c in enumerate(CASES):
    c.name = f"{i:03d}-{c.id}"

IFEVAL_CASES = [c for c in CASES if c.id.split(":")[0] not in {"count", "ratio", "words", "format", "custom", "sentence", "repeat"}]
IFBENCH_CASES = [c for c in CASES if c not in IFEVAL_CASES]
