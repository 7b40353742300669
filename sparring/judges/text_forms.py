"""Text as a rule judge must read it: one form for every spelling a policy can find of the same words.

A self-play run is an optimiser pointed at the judge, so a rule that matches raw text is beaten by
the first spelling it does not expect: fullwidth letters, zero-width characters between letters,
look-alike letters from another script, dots or markdown between the letters. `fold` maps all of
these to one form (Unicode NFKC, format characters dropped, digits of any script as ASCII digits,
Cyrillic, Greek, small-capital and regional-indicator look-alikes mapped to Latin, case-folded);
`spells` then finds a word written with anything but letters and digits between its characters.

What no rule sees (paraphrase, base64, a word spelled backwards or one letter a line) is listed in
docs/judge_games.md: that is what a model judge is for.
"""

from __future__ import annotations

import re
import unicodedata

# Letters of other scripts that render like a Latin letter (lower case; `fold` case-folds first).
# From Unicode's confusables for the Cyrillic and Greek blocks, the ones common fonts draw alike.
_LOOK_ALIKES = {
    "а": "a", "в": "b", "с": "c", "ԁ": "d", "е": "e", "ё": "e", "һ": "h", "і": "i", "ї": "i", "ј": "j",
    "к": "k", "ӏ": "l", "м": "m", "н": "h", "о": "o", "р": "p", "ԛ": "q", "ѕ": "s", "т": "t", "у": "y",
    "х": "x", "ԝ": "w", "ү": "y", "ɡ": "g", "ı": "i",
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t",
    "υ": "u", "χ": "x", "ϲ": "c", "ϳ": "j", "μ": "u", "ω": "w", "ζ": "z",
    # Latin small capitals, which NFKC leaves alone.
    "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ꜰ": "f", "ɢ": "g", "ʜ": "h", "ɪ": "i", "ᴊ": "j", "ᴋ": "k",
    "ʟ": "l", "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p", "ʀ": "r", "ꜱ": "s", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w",
    "ʏ": "y", "ᴢ": "z",
    # Regional indicator letters (a flag when two stand together, a boxed letter alone).
    **{chr(0x1F1E6 + k): letter for k, letter in enumerate("abcdefghijklmnopqrstuvwxyz")},
}
_LOOK_ALIKE_TABLE = str.maketrans(_LOOK_ALIKES)
# Greek capitals that look like another Latin letter than their lower case does (Ν is N, ν is v): mapped
# before case-folding.
_CAPITAL_LOOK_ALIKE_TABLE = str.maketrans({"Η": "h", "Μ": "m", "Ν": "n", "Υ": "y"})
_SEPARATORS = re.compile(r"[^0-9a-z]+")


def _plain_char(char: str) -> str:
    """Nothing for a zero-width or other invisible format character (Unicode category Cf, soft hyphens
    included); the ASCII digit for a digit of any script (Arabic-Indic, Devanagari...); else the character."""
    if unicodedata.category(char) == "Cf":
        return ""
    digit = unicodedata.decimal(char, None)
    return char if digit is None else str(digit)


def fold(text: str) -> str:
    """NFKC, invisible format characters removed, digits of every script written as ASCII digits,
    look-alike letters mapped to Latin, case-folded."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(_plain_char(char) for char in text)
    # Case-fold before and after the map: the map is lower case, and NFKC may leave a capital look-alike.
    text = text.translate(_CAPITAL_LOOK_ALIKE_TABLE).casefold().translate(_LOOK_ALIKE_TABLE)
    # Combining marks (a dot or an accent added to a letter) do not change what a reader reads.
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def letters_and_digits(text: str) -> str:
    """The folded text with everything but Latin letters and digits removed."""
    return _SEPARATORS.sub("", fold(text))


def plain_words(text: str) -> list[str]:
    """The folded text's words: runs of Latin letters and digits, every other character a separator."""
    return [word for word in _SEPARATORS.split(fold(text)) if word]


def spells(text: str, word: str) -> bool:
    """Whether `text` writes `word` (letters and digits only count) in order, in any case, script look-alike
    or width, with nothing but other characters (separators, markup, invisible ones) between its characters."""
    target = letters_and_digits(word)
    return bool(target) and target in letters_and_digits(text)
