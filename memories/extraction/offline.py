"""Fact extraction with no model at all: the default when no LLM is configured, and fast enough for benchmarks.

One fact per content-bearing sentence (per turn for conversations), written to stand on its own:

- **Speaker.** From the turn; for plain text from ``Name: text`` line prefixes; else from ``chunk.context`` when it
  plainly names the author ("Alice", "message from Alice", "Alice's diary"). "chat with Alice" is *not* taken: it
  names a participant, not who wrote the text. The speaker goes to ``metadata["speaker"]`` and, unless it is a role
  ("user", "assistant", …: a hub entity would link every fact of the bank), to a PERSON entity.
- **Self-contained text.** First-person singular is rewritten to the speaker's name when every "I/me/my" in the fact
  can be rewritten with correct grammar ("I went" → "Caroline went", "I'm" → "Caroline is", "I love" → "Caroline
  loves", "my" → "Caroline's"); otherwise (no first person, "we/our", an "I" we cannot conjugate, the agent's own
  words) the fact is prefixed "Caroline said: …". Relative time expressions get their absolute date written right
  after them: "yesterday (on 7 May 2023)", "last year (in 2022)".
- **Small talk is dropped.** Greetings, thanks, reactions ("Wow, that's cool!") and sentences with no content words
  produce nothing. Questions are dropped unless they say something about the speaker (first person and at least
  three content words: "Have you been to my hometown Boston?"), since a question asserts nothing otherwise. In
  ``concise`` mode a sentence needs three content words (two when it is about the speaker); a shorter one that
  refers back ("It's special to me.") is appended to the previous fact of the same turn, any other is dropped.
  ``verbose`` keeps those short sentences as facts of their own.
- **Entities** are capitalised word sequences (not at sentence start unless the form also appears mid-sentence in
  the chunk, is a speaker, is an acronym or has several words), with stop words, pronouns, weekday/month names and
  time expressions removed; a nickname that is the start of a speaker's first name ("Mel") becomes that speaker.
  Types are given only when a cue says so: PERSON (speakers, "my friend X", titles), ORG and PLACE (name suffixes
  like "University", "Bridge", or "visited/moved to/lives in X").
- **Dates**: ``occurred_start/end`` from the first precise time expression of the fact (else the first period),
  resolved against ``chunk.event_date``; None when the fact has none (the caller stamps ``mentioned_at``).
  ``fact_kind`` is "event" when there is a time expression or a simple-past verb, else "ongoing".
- **Labels** (``entity_labels``): a value is assigned when it (or, failing that, a key word of its description)
  appears word-bounded in the fact; "value" groups take the earliest match only, "multi-values" every match,
  "text" groups need a model and are skipped; a non-optional group without a match stays unassigned.

``retain_mission`` and ``custom_instructions`` need a model and are not used here; ``custom`` behaves as
``concise``. ``verbatim`` stores the chunk as one fact (entities and dates still extracted); ``chunks`` stores it
with label entities only and no dates. Output is deterministic: no randomness and no set iteration order reaches it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from memories.extraction.types import (
    ChunkInput,
    ExtractedEntity,
    ExtractedFact,
    ExtractionResult,
    ExtractionSettings,
)
from memories.temporal import MONTH_NAMES, TimeRange, describe_range, find_time_spans

__all__ = ["AGENT_ROLES", "USER_ROLES", "OfflineExtractor", "speaker_from_context", "split_sentences"]

AGENT_ROLES = frozenset({"assistant", "agent", "ai", "bot", "system"})
USER_ROLES = frozenset({"user", "human"})

# --- word lists -------------------------------------------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    """A word list written as running text (easier to read and extend than a list literal)."""
    return frozenset(text.split())


_STOP_WORDS = _words(
    """
    a about above after again against all almost also am an and any anyone anything anyway are aren't around as at
    be because been before being below between both but by can can't cannot could couldn't did didn't do does doesn't
    doing don't done down during each else even ever every everyone everything few for from further get gets getting
    got gotten had hadn't has hasn't have haven't having he he'd he'll he's her here here's hers herself him himself
    his how how's i i'd i'll i'm i've if in into is isn't it it'd it'll it's its itself just kinda kind let let's like
    lot lots many may me might more most much must my myself no nor not now of off on once only or other others
    ought our ours ourselves out over own pretty quite rather really same she she'd she'll she's should shouldn't so
    some someone something sort such than that that'd that'll that's the their theirs them themselves then there
    there's these they they'd they'll they're they've thing things this those though through to too under until up
    upon us very was wasn't we we'd we'll we're we've were weren't what what's whatever when when's where where's
    which while who who's whom why why's will with won't would wouldn't yet you you'd you'll you're you've your yours
    yourself yourselves gonna wanna gotta ya y'all etc still always never maybe perhaps already bit way stuff nothing
    take taking make making made put one ones via per also yeah
    """
)
# Words that carry no fact on their own: greetings, reactions, politeness, conversational glue.
_FILLER_WORDS = _words(
    """
    hey hi hello hiya yo wow woah whoa oh ooh ah aw aww awww yea yes yep yup nope ok okay thanks thank thx cool great
    awesome amazing nice sweet lovely wonderful fantastic glad totally absolutely definitely indeed lol haha hahaha
    hehe hmm um uh omg congrats congratulations agree agreed true good well see talk soon later bye goodbye care hear
    sounds sound seems seem look looks sorry welcome cheers gosh dear super truly certainly guess think mean know
    right huh alright sure fun tho btw happy proud excited thrilled glad hope hoping wait bet stoked wish luck
    cute fab fabulous gorgeous brilliant
    anytime yay woohoo ugh meh up yikes dang damn geez nah phew gotcha bummer oof yum aha ahh ahh oops whew
    """
)
# Common words that open sentences capitalised. A capitalised first word outside this list and the stop/filler
# lists ("Alice works at Google") is taken as a name; inside it ("Nature is beautiful") it needs more evidence.
_COMMON_OPENERS = _words(
    """
    ahead apparently besides clearly currently daily despite early either enough especially eventually exactly
    except first following fortunately frankly funny generally half hardly hopefully imagine initially instead
    interestingly last lately life likewise little luckily meanwhile moreover naturally nature nearly nevertheless
    next nobody none normally obviously originally otherwise overall personally plus possibly probably recently
    seriously since somebody sometimes speaking surprisingly therefore thus together unfortunately usually whether
    art music family friends friend work school kids kid children child dogs dog cats cat pets pet life love food
    books book movies movie travel weather home time money health sports coffee tea dinner lunch breakfast people
    everyone mom dad mum parents brother sister baby wife husband photo photos pic pics picture pictures video game
    games song songs concert show trip vacation holiday weekend party class classes job career team project city
    town country beach park mountains garden house car bike meal week month year day night summer winter spring fall
    season plans plan goal goals dream dreams idea ideas place places world community support group events event
    meeting news story stories yoga exercise fitness pottery dance dancing nothing everything anything something
    big small old young real hard easy tough busy tired sad important interesting exciting beautiful perfect best
    better worst bad same different whole sounds seems looks two three four five six seven eight nine ten fingers
    check take let keep hang email call text send look try give tell ask remember hope miss wish enjoy stay feel go
    come get say need want sounds glad congrats sorry thanks true totally
    """
)
_PRONOUNS = _words("i me my mine myself you your yours he him his she her hers it its we us our they them their")
_ARTICLES = frozenset({"the", "a", "an"})
_TIME_WORDS = frozenset(
    [name.lower() for name in MONTH_NAMES]
    + list(_words("monday tuesday wednesday thursday friday saturday sunday today tonight tomorrow yesterday"))
    + list(_words("jan feb mar apr jun jul aug sep sept oct nov dec christmas easter halloween thanksgiving"))
    + list(_words("mon tue tues wed thu thur thurs fri sat sun"))
)
_CHAT_ACRONYMS = _words("lol omg btw tbh idk imo imho lmao rofl asap fyi ok ttyl brb smh np ty thx pm am")
_TITLES = frozenset({"mr", "mrs", "ms", "miss", "dr", "prof", "professor", "aunt", "uncle", "sir", "madam"})
_NAME_CONNECTORS = frozenset({"of", "de", "da", "del", "van", "von", "la", "le", "du"})
# Capitalised only in greetings and sign-offs ("Good Morning", "Happy Birthday"), never names.
_NEVER_NAMES = frozenset({"morning", "evening", "afternoon", "night", "birthday", "please", "hugs", "xoxo"})
_ORG_SUFFIXES = _words(
    """
    inc corp corporation company co llc ltd university college school academy institute foundation association
    society club group center centre hospital church bank agency department team band studio studios network
    """
)
_PLACE_SUFFIXES = _words(
    """
    city street st avenue ave road rd park bridge lake river mountain mountains mount beach island islands bay valley
    county state canyon falls square station airport museum library garden gardens forest trail coast
    """
)
_PLACE_PREFIXES = frozenset({"mount", "mt", "lake", "port", "fort", "saint", "san", "los", "las"})
_IRREGULAR_PAST = _words(
    """
    went got saw made took had did found felt thought bought ran met came gave told said left began brought built
    caught chose drew drank drove ate fell fought flew forgot froze grew heard held hid kept knew led lost meant paid
    rode rang rose sang sat sent shot slept spoke spent stood stole swam taught threw understood woke won wore wrote
    became broke sold dug fed hung shook sank stuck swore tore wept
    """
)
_ED_NOT_PAST = frozenset({"need", "feed", "seed", "bleed", "speed", "breed", "proceed", "succeed", "exceed", "heed"})
_MODALS = _words(
    """
    can can't cannot could couldn't would wouldn't should shouldn't might must may will won't shall did didn't had
    hadn't was wasn't used
    """
)
_CONTRACTED_VERBS = {"I'm": "is", "I've": "has", "I'll": "will"}
# Verbs whose past equals their base form: past when the sentence says so.
_SAME_PAST_FORM = _words("put read set cut let hit quit shut hurt cost spread beat bet cast burst split")
_PAST_CONTEXT = re.compile(r"\b(?:yesterday|last|ago|earlier|once|when|back then|used to|before)\b", re.IGNORECASE)
_PRESENT_FIXED = {"am": "is", "have": "has", "haven't": "hasn't", "do": "does", "don't": "doesn't", "be": "is"}
_PHRASAL = {"wanna": "wants to", "gotta": "has to", "gonna": "is going to"}
_PERFECT_PARTICIPLES = _words(
    "been gone had done seen known taken given written eaten got gotten found thought felt told left met heard"
)
_ADVERBS = (
    "really|also|just|still|always|never|usually|often|sometimes|actually|totally|definitely|finally|recently"
    "|absolutely|even|kinda|sorta|only|truly|honestly|probably|already|literally|seriously|mostly|rarely"
    "|occasionally|certainly|genuinely|deeply|especially|particularly|generally|normally|typically|basically|so|too"
)
_RELATIONS = (
    "friend|friends|buddy|pal|sister|brother|sibling|mom|mum|mother|dad|father|parent|son|daughter|kid|child|wife"
    "|husband|partner|spouse|boyfriend|girlfriend|fiance|fiancee|cousin|aunt|uncle|grandma|grandmother|grandpa"
    "|grandfather|niece|nephew|colleague|coworker|co-worker|boss|manager|neighbor|neighbour|roommate|mentor|teacher"
    "|coach|therapist|doctor|classmate|bestie"
)
_CONTEXT_NOUNS = _words(
    """
    work meeting meetings notes note chat conversation email message messages journal diary summary personal
    project projects todo ideas general misc team family home travel health shopping support document documents
    update updates news memo log logs session sessions transcript call calls interview feedback review reviews
    preferences profile settings agent assistant system user human bot ai
    """
)
_LINE_PREFIX_STOP = _words(
    """
    note notes summary update subject re fwd ps warning error todo question answer q a tip example step date time
    title topic location status result goal action important reminder edit source reason context description name
    email phone address url link price cost total score rating day week nb fyi tldr ingredients instructions pros
    cons output input response request http https
    """
)

# --- regexes (compiled once) ------------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*(?:-[^\W_]+)*")
_BOUNDARY = re.compile(r"([.!?\u2026]+)([\"'\u201d\u2019)\]]*)(\s+)")
_LAST_WORD = re.compile(r"([\w.]+)$")
_ABBREVIATIONS = _words(
    "mr mrs ms dr prof st jr sr vs etc e.g i.e inc ltd co mt ave no approx u.s a.m p.m fig dept est"
)
_LEADING_FILLER = re.compile(
    r"^(?:(?:hey|hi|hello|hiya|wow|woah|whoa|oh|ooh|ah|aw+|yeah|yea|yes|yep|yup|no|nope|well|so|ok|okay|lol|haha+"
    r"|hehe|omg|um+|uh+|hmm+|totally|absolutely|definitely|honestly|actually|anyway|anyways|btw|by the way|thanks"
    r"|thank you|oh my god|gosh|cool|great|awesome|nice|sweet|sure|right|true|indeed)\s*[,!.\u2026-]+\s*)+",
    re.IGNORECASE,
)
_LEADING_VOCATIVE = re.compile(r"^([A-Z][\w'\u2019-]*)\s*[,!]+\s*")
_FIRST_PERSON = re.compile(r"\bI\b|\b(?i:me|my|mine|myself|we|our|ours|us)\b")
_FIRST_PLURAL = re.compile(r"\b(?i:we|we're|we've|we'll|we'd|our|ours|ourselves)\b|\bus\b|\bwe\u2019")
_FIRST_SINGULAR = re.compile(
    r"(?<![\w'\u2019-])(I['\u2019](?:m|ve|ll|d)|I|[Mm]e|[Mm]y|[Mm]ine|[Mm]yself)(?![\w'\u2019-])"
)
_AFTER_SUBJECT = re.compile(rf"((?:\s+(?:{_ADVERBS}))*)\s+([A-Za-z]+(?:['\u2019][a-z]+)?)\b")
# An opening without its subject: optional time words (with the date we wrote after them), an adverb, a verb.
_SUBJECTLESS = re.compile(
    r"^(?P<lead>(?:(?:yesterday|today|tonight|last\s+(?:night|week|weekend|month|year)"
    r"|this\s+(?:morning|afternoon|evening|week|weekend))(?:\s*\([^)]*\))?\s*,?\s+)?)"
    r"(?:(?:just|finally|recently|also|really|totally)\s+)*(?P<verb>[A-Za-z]+)\b",
    re.IGNORECASE,
)
_PROGRESSIVE_OPENINGS = _words(
    "gonna going planning heading hoping trying thinking working off looking loving enjoying feeling getting"
)
# "Getting a dog is a big step": the -ing phrase is the subject of a verb before the next punctuation.
_GERUND_SUBJECT = re.compile(
    r"[^,.;!?]*?\b(?:is|was|are|were|can|could|will|would|makes|made|has|helps|seems|feels|sounds)\b", re.IGNORECASE
)
_PARTICIPLE_ADJECTIVES = _words(
    """
    based located related inspired interested excited tired scared worried surprised amazed obsessed blessed stressed
    bored thrilled pleased delighted impressed exhausted overwhelmed touched moved married engaged
    """
)
_ADJECTIVE_FOLLOWS = re.compile(r"\s+(?:to|about|for|with|by|that|of)\b", re.IGNORECASE)
# "Mel and I", "my sister and I", "than I": the I is not the sole subject of a verb we would conjugate.
_COMPOUND_BEFORE = re.compile(
    r"(?:(?:^|[,;:(\u2014-]\s*|\b(?:that|when|because|so|then|but|while|after|before|since|if|yesterday|today)\s+)"
    r"(?:[A-Z][\w'\u2019-]*|[Mm]y\s+\w+|[Tt]he\s+\w+)\s+(?:and|or|nor)|\bthan)\s+$"
)
_ANAPHORIC_START = re.compile(
    r"^(?:it|it's|it\u2019s|that|that's|that\u2019s|this|they|they're|these|those|he|she|which|and|but|also|plus)\b",
    re.IGNORECASE,
)
_FUTURE = re.compile(
    r"(?<!was )(?<!were )\b(?:will|won't|gonna|going to|plan(?:s|ning)? to|looking forward|can't wait|upcoming"
    r"|hope to|about to)\b|['\u2019]ll\b",
    re.IGNORECASE,
)
_PAST_WORD = re.compile(r"\b(?i:was|were|did|didn't|" + "|".join(sorted(_IRREGULAR_PAST)) + r")\b")
# A regular past after a subject ("I painted", "Mel visited"): "-ed" alone would catch "excited", "interested".
_PAST_REGULAR = re.compile(
    r"\b(?:I|[Ww]e|[Hh]e|[Ss]he|[Tt]hey|[Yy]ou|[A-Z][a-z]+)\s+(?:\w+ly\s+|just\s+|also\s+|finally\s+)?(\w{2,}ed)\b"
)
_ABSOLUTE_TEXT = re.compile(r"(?<!\d)(?:1[89]|20|21)\d{2}(?!\d)")
_RELATIONAL_TEXT = re.compile(r"\b(?:before|after|prior|following|earlier|later)\b", re.IGNORECASE)
_RELATION_BEFORE = re.compile(
    rf"\b(?:my|his|her|their|our|your|a|the)\s+(?:(?:best|old|close|little|big|older|younger|new|dear|good)\s+)?"
    rf"(?:{_RELATIONS}),?\s+$",
    re.IGNORECASE,
)
_PLACE_BEFORE = re.compile(
    r"\b(?:near|visited|visiting|visit|moved\s+to|move\s+to|moving\s+to|trip\s+to|travell?ed\s+to|flew\s+to"
    r"|drove\s+to|went\s+to|back\s+to|born\s+in|lives?\s+in|living\s+in|grew\s+up\s+in)\s+$",
    re.IGNORECASE,
)
_LINE_PREFIX = re.compile(
    r"^\s*(?P<name>[A-Z][\w'\u2019.-]*(?:\s+[A-Z][\w'\u2019.-]*){0,2}|(?i:user|assistant|human|ai|bot|system|agent))"
    r"\s*:\s+(?P<text>\S.*)$"
)
_NAME_RE = r"[A-Z][\w'\u2019-]+(?:\s+[A-Z][\w'\u2019-]+){0,2}"
_CONTEXT_SPEAKER = (
    re.compile(rf"^\s*(?P<name>{_NAME_RE})\s*$"),
    re.compile(
        r"^\s*(?i:(?:a|an|the)\s+)?(?i:message|note|notes|email|e-mail|letter|text|post|comment|reply|story|diary"
        r"|journal|entry|statement|quote|tweet|dm|voice\s+note|words|thoughts|memo)\s+(?i:from|by|of)\s+"
        rf"(?P<name>{_NAME_RE}|(?i:the\s+)?(?i:user|assistant|agent|human))\s*\.?\s*$"
    ),
    re.compile(rf"^\s*(?P<name>{_NAME_RE})(?:['\u2019]s)\s+(?i:diary|journal|notes|message|messages|email|letter)\s*$"),
    re.compile(rf"^\s*(?P<name>{_NAME_RE})\s+(?i:said|says|wrote|writes)\s*:?\s*$"),
)
_OPENING_VERB = re.compile(r"(?:ing|ed|ly)$")
# Word endings of common nouns, adjectives and adverbs, rare in names: "Painting", "Honestly", "Kindness".
_COMMON_ENDING = re.compile(r"(?:ing|ly|ed|tion|sion|ness|ment|ful|ous|ive|able|ible|ity|ies|ism|ship)$", re.IGNORECASE)
_NEXT_WORDS = re.compile(r"\s+([^\W\d_][\w'\u2019-]*)(?:\s+([^\W\d_][\w'\u2019-]*))?")
_SINGULAR_VERBS = _words("is was has does said says")
_NAME_VERBS = _words(
    """
    is was has had said says will would can could did does didn't doesn't isn't wasn't hasn't just also always never
    really still recently finally usually got gets went goes came comes made makes took takes gave gives left met saw
    became bought told
    """
)
_NOUN_SUFFIX = re.compile(r"(?:ing|tion|sion|ment|ness|ity|ship|ogy|ism)$", re.IGNORECASE)


# --- small helpers ----------------------------------------------------------------------------------------------


def _norm(word: str) -> str:
    return word.lower().replace("\u2019", "'")


def _is_role(speaker: str | None) -> bool:
    return bool(speaker) and speaker.strip().lower() in AGENT_ROLES | USER_ROLES


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``: split after . ! ? … (not after abbreviations or initials) and at every line break."""
    sentences: list[str] = []
    for line in text.splitlines():
        start = 0
        for m in _BOUNDARY.finditer(line):
            if m.group(1) == ".":
                before = _LAST_WORD.search(line, start, m.start())
                word = before.group(1).lower() if before else ""
                following = line[m.end() : m.end() + 1]
                if word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha() and word != "i"):
                    continue
                if following.islower() and len(word) < 3:
                    continue
            piece = line[start : m.end(2)].strip()
            if piece:
                sentences.append(piece)
            start = m.end()
        tail = line[start:].strip()
        if tail:
            sentences.append(tail)
    return sentences


def _third_person(verb: str) -> str:
    lower = verb.lower()
    if lower in _PRESENT_FIXED:
        return _PRESENT_FIXED[lower]
    if lower.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if len(lower) > 1 and lower.endswith("y") and lower[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def _is_past(word: str) -> bool:
    lower = word.lower()
    return lower in _IRREGULAR_PAST or (len(lower) > 3 and lower.endswith("ed") and lower not in _ED_NOT_PAST)


def _rewrite_first_person(text: str, subject: str) -> str | None:
    """``text`` with I/me/my turned into ``subject``; None unless every occurrence could be rewritten grammatically.

    Chat often drops the subject ("Gonna continue my edu", "Went hiking with my dad"): such openings get the
    subject back, since they are first person too.
    """
    if _FIRST_PLURAL.search(text):
        return None
    opening = _SUBJECTLESS.match(text)
    if opening is not None:
        verb = opening.group("verb").lower()
        if verb in _PROGRESSIVE_OPENINGS and not _GERUND_SUBJECT.match(text, opening.end()):
            auxiliary = " is"
        elif verb == "been":
            auxiliary = " has"
        elif (
            _is_past(verb) and verb not in _PARTICIPLE_ADJECTIVES and not _ADJECTIVE_FOLLOWS.match(text, opening.end())
        ):
            auxiliary = ""
        else:
            opening = None
        if opening is not None:
            cut = opening.end("lead")
            text = f"{text[:cut]}{subject}{auxiliary} {text[cut : cut + 1].lower()}{text[cut + 1 :]}"
    if _FIRST_SINGULAR.search(text) is None:
        return None if opening is None else text[:1].upper() + text[1:]
    possessive = f"{subject}'s"
    parts: list[str] = []
    position = 0
    for m in _FIRST_SINGULAR.finditer(text):
        if m.start() < position:
            continue  # consumed by the previous rewrite (its verb)
        token = m.group(1).replace("\u2019", "'")
        lower = token.lower()
        parts.append(text[position : m.start()])
        position = m.end()
        if lower == "me":
            parts.append(subject)
            continue
        if lower == "myself":
            parts.append("themself")  # the name twice ("embrace Caroline") reads worse; the gender is unknown
            continue
        if lower in ("my", "mine"):
            parts.append(possessive)
            continue
        if token in ("I'm", "I've", "I'll"):
            parts.append(f"{subject} {_CONTRACTED_VERBS[token]}")
            continue
        following = _AFTER_SUBJECT.match(text, m.end())
        if token == "I'd":  # noqa: S105 - a contraction, not a password
            perfect = following is not None and (
                _norm(following.group(2)) in _PERFECT_PARTICIPLES or _is_past(following.group(2))
            )
            parts.append(f"{subject} {'had' if perfect else 'would'}")
            continue
        if _COMPOUND_BEFORE.search(text, 0, m.start()):
            parts.append(subject)  # "Mel and I went": the verb already agrees with a plural subject
            continue
        if following is None:
            return None
        adverbs, verb = following.group(1), following.group(2)
        lower_verb = _norm(verb)
        if "'" in lower_verb and lower_verb not in _PRESENT_FIXED and lower_verb not in _MODALS:
            return None
        if lower_verb in _PHRASAL:
            new_verb = _PHRASAL[lower_verb]
        elif lower_verb in _MODALS or _is_past(lower_verb):
            new_verb = verb
        elif lower_verb in _SAME_PAST_FORM and _PAST_CONTEXT.search(text):
            new_verb = verb  # "the book I read last year": past, not "reads"
        elif (lower_verb.isalpha() and verb.islower()) or lower_verb in _PRESENT_FIXED:
            new_verb = _third_person(verb)
        else:
            return None
        parts.append(f"{subject}{adverbs} {new_verb}")
        position = following.end()
    parts.append(text[position:])
    rewritten = "".join(parts)
    return rewritten[:1].upper() + rewritten[1:]


# --- speakers ---------------------------------------------------------------------------------------------------


def _plausible_name(name: str) -> bool:
    words = name.split()
    for word in words:
        lower = _norm(word).rstrip(".")
        if lower in _STOP_WORDS or lower in _FILLER_WORDS or lower in _TIME_WORDS or lower in _CONTEXT_NOUNS:
            return False
        if len(words) == 1 and _NOUN_SUFFIX.search(lower):
            return False
    return True


def speaker_from_context(context: str) -> str | None:
    """The author named by an item's context, only when the context plainly names one person (or role)."""
    context = (context or "").strip()
    if not context or len(context) > 80:
        return None
    lowered = context.lower()
    if lowered in AGENT_ROLES | USER_ROLES:
        return lowered
    for pattern in _CONTEXT_SPEAKER:
        m = pattern.match(context)
        if m is None:
            continue
        name = re.sub(r"^(?i:the)\s+", "", m.group("name"))
        if name.lower() in AGENT_ROLES | USER_ROLES:
            return name.lower()
        return name if _plausible_name(name) else None
    return None


@dataclass
class _Segment:
    speaker: str | None
    turn_id: str | None
    text: str


def _segments(chunk: ChunkInput) -> list[_Segment]:
    """The chunk as (speaker, turn id, text) pieces: turns, "Name: text" lines, or the whole text."""
    if chunk.turns:
        return [_Segment((turn.speaker or "").strip() or None, turn.turn_id, turn.text) for turn in chunk.turns]
    fallback = speaker_from_context(chunk.context)
    segments: list[_Segment] = []
    prefixed = False
    for line in chunk.text.splitlines():
        m = _LINE_PREFIX.match(line)
        name = m.group("name").strip() if m else ""
        if m and _norm(name).rstrip(".") not in _LINE_PREFIX_STOP and len(name) > 1 and _plausible_role_or_name(name):
            prefixed = True
            segments.append(_Segment(name, None, m.group("text")))
        elif segments:
            segments[-1].text += "\n" + line
        else:
            segments.append(_Segment(fallback, None, line))
    if not prefixed:
        return [_Segment(fallback, None, chunk.text)]
    return segments


def _plausible_role_or_name(name: str) -> bool:
    return name.lower() in AGENT_ROLES | USER_ROLES or _plausible_name(name)


class _People:
    """Speakers of the chunk and the forms that refer to them ("Melanie", "Mel", first names of full names)."""

    def __init__(self, speakers: list[str]):
        self.names = [s for s in speakers if not _is_role(s)]
        self.forms: dict[str, str] = {}
        for name in self.names:
            self.forms.setdefault(name.lower(), name)
            first = name.split()[0]
            self.forms.setdefault(first.lower(), name)
        self._first_names = [(name.split()[0].lower(), name) for name in self.names]

    def resolve(self, word: str) -> str | None:
        lower = _norm(word)
        if lower in self.forms:
            return self.forms[lower]
        if len(lower) >= 3:  # a nickname that starts the first name of exactly one speaker
            matches = [name for first, name in self._first_names if first.startswith(lower) and first != lower]
            if len(matches) == 1:
                return matches[0]
        return None


# --- labels -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _LabelValue:
    value: str
    literal: re.Pattern[str]
    keywords: re.Pattern[str] | None


@dataclass(frozen=True)
class _LabelGroup:
    key: str
    multi: bool
    tag: bool
    values: tuple[_LabelValue, ...]


def _word_pattern(phrase: str) -> re.Pattern[str]:
    body = r"\s+".join(re.escape(part) for part in phrase.split())
    return re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE)


@lru_cache(maxsize=64)
def _compile_labels(serialised: str) -> tuple[_LabelGroup, ...]:
    groups: list[_LabelGroup] = []
    for group in json.loads(serialised):
        group_type = group.get("type", "value")
        if group_type not in ("value", "multi-values"):
            continue  # free-text labels need a model
        values: list[_LabelValue] = []
        for item in group.get("values") or []:
            value = (item if isinstance(item, str) else item.get("value", "")).strip()
            if not value:
                continue
            description = "" if isinstance(item, str) else item.get("description") or ""
            words = []
            for word in _WORD.findall(description.lower()):
                if len(word) >= 4 and word not in _STOP_WORDS and word not in _FILLER_WORDS and word not in words:
                    words.append(word)
            keywords = re.compile(rf"\b(?:{'|'.join(map(re.escape, words))})\b", re.IGNORECASE) if words else None
            values.append(_LabelValue(value, _word_pattern(value), keywords))
        if values:
            groups.append(
                _LabelGroup(group["key"], group_type == "multi-values", bool(group.get("tag")), tuple(values))
            )
    return tuple(groups)


def _labels_for(text: str, groups: tuple[_LabelGroup, ...]) -> list[tuple[str, bool]]:
    """("key:value", tag) for every label the text supports, groups in configured order."""
    found: list[tuple[str, bool]] = []
    for group in groups:
        literal: list[tuple[int, int, str]] = []
        described: list[tuple[int, int, str]] = []
        for order, item in enumerate(group.values):
            m = item.literal.search(text)
            if m is not None:
                literal.append((m.start(), order, item.value))
                continue
            if item.keywords is not None:
                k = item.keywords.search(text)
                if k is not None:
                    described.append((k.start(), order, item.value))
        chosen = sorted(literal + described) if group.multi else sorted(literal or described)[:1]
        found.extend((f"{group.key}:{value}", group.tag) for _, _, value in chosen)
    return found


# --- sentences --------------------------------------------------------------------------------------------------


@dataclass
class _Sentence:
    text: str
    spans: list[tuple[int, int, TimeRange]]
    content: int = 0
    first_person: bool = False
    names_someone: bool = False  # a capitalised non-filler word: "Alice got promoted" is a fact, not small talk
    question: bool = False
    anaphoric: bool = False
    words: list[re.Match[str]] = field(default_factory=list)


def _strip_leading(text: str, people: _People) -> str:
    """Drop leading interjections and vocatives ("Wow, Mel! …", "Yeah, …") that only address the listener."""
    while True:
        stripped = _LEADING_FILLER.sub("", text, count=1)
        m = _LEADING_VOCATIVE.match(stripped)
        if m is not None and people.resolve(m.group(1)) is not None:
            stripped = stripped[m.end() :]
        if stripped == text:
            return text[:1].upper() + text[1:]
        text = stripped


def _analyse(text: str, people: _People, reference: datetime | None) -> _Sentence:
    words = list(_WORD.finditer(text))
    content = 0
    names_someone = False
    for word in words:
        lower = _norm(word.group(0))
        if lower in _STOP_WORDS or lower in _FILLER_WORDS or (len(lower) < 2 and not lower.isdigit()):
            continue
        if word.group(0)[0].isupper() and people.resolve(word.group(0)) is not None:
            continue  # addressing someone is not content
        content += 1
        names_someone = names_someone or word.group(0)[0].isupper()
    spans = find_time_spans(text, reference, prefer_future=_FUTURE.search(text) is not None) if content else []
    return _Sentence(
        text=text,
        spans=spans,
        content=content,
        first_person=_FIRST_PERSON.search(text) is not None,
        names_someone=names_someone,
        question=text.rstrip().endswith("?"),
        anaphoric=_ANAPHORIC_START.match(text) is not None,
        words=words,
    )


def _group_sentences(sentences: list[_Sentence], *, verbose: bool) -> list[list[_Sentence]]:
    """Decide which sentences of one turn become facts, merging short back-references into the previous fact."""
    groups: list[list[_Sentence]] = []
    for sentence in sentences:
        if sentence.content == 0:
            continue
        if sentence.question:
            if sentence.first_person and sentence.content >= 3:
                groups.append([sentence])
            continue
        substantial = sentence.content >= 3 or (
            (sentence.first_person or sentence.names_someone) and sentence.content >= 2
        )
        if sentence.anaphoric and groups and len(groups[-1]) < 3:
            groups[-1].append(sentence)  # "… painted a sunrise. It's special to me.": keep the referent in view
        elif substantial or verbose:
            groups.append([sentence])
    return groups


# --- entities ---------------------------------------------------------------------------------------------------


def _is_capitalised(word: str) -> bool:
    return word[:1].isupper()


def _is_acronym(word: str) -> bool:
    """LGBTQ, NASA, NYC; long all-capital words are shouting ("INTENSE"), not acronyms."""
    letters = [c for c in word if c.isalpha()]
    return 2 <= len(letters) <= 5 and all(c.isupper() for c in letters) and "'" not in word and "\u2019" not in word


def _breaks_name(word: str) -> bool:
    """A capitalised word that cannot be inside a name ("I", "Hey", "Monday"), unlike "Under" in "Under Armour"."""
    lower = _norm(word)
    return (
        lower in _PRONOUNS
        or lower in _FILLER_WORDS
        or lower in _TIME_WORDS
        or lower in _CHAT_ACRONYMS
        or lower in _NEVER_NAMES
        or lower.startswith(("i'", "it'"))
        or (len(word) >= 6 and word.isupper())  # shouting, not a name
    )


def _skippable(word: str) -> bool:
    """A capitalised word that is never (part of the start of) a name: I, The, Hey, Monday, …"""
    lower = _norm(word)
    return (
        lower in _STOP_WORDS
        or lower in _FILLER_WORDS
        or lower in _PRONOUNS
        or lower in _TIME_WORDS
        or lower in _CHAT_ACRONYMS
        or lower in _NEVER_NAMES
        or lower.startswith(("i'", "it'"))
    )


def _mid_sentence_forms(sentences: list[_Sentence]) -> set[str]:
    """Lower-cased capitalised words seen after a sentence's capitalised opening anywhere in the chunk."""
    forms: set[str] = set()
    for sentence in sentences:
        opening = True  # the capitalised words opening a sentence ("Happy Birthday", "Hey Mel") prove nothing
        for word in sentence.words:
            token = word.group(0)
            capitalised = _is_capitalised(token)
            opening = opening and capitalised
            if capitalised and not opening and not _skippable(token):
                forms.add(_strip_possessive(token).lower())
    return forms


def _strip_possessive(word: str) -> str:
    return word[:-2] if word.endswith(("'s", "\u2019s")) else word


def _looks_like_name_subject(token: str, word: re.Match[str], sentence: _Sentence) -> bool:
    """A capitalised opener that is no common word and is the subject of a singular verb ("Alice works at …").

    Chat drops subjects ("Appreciate you!", "Reminds me of …", "Took me ages"), so the opener must itself not look
    like a verb and what follows must: "is/was/has", a past tense, a third-person "-s", or "and <Name>".
    """
    lower = _norm(token)
    if (
        len(lower) < 3
        or not token.isalpha()
        or not token[1:].islower()
        or lower in _COMMON_OPENERS
        or _COMMON_ENDING.search(lower)
        or _is_past(lower)
    ):
        return False
    following = _NEXT_WORDS.match(sentence.text, word.end())
    if following is None:
        return False
    verb = _norm(following.group(1))
    if verb == "and":
        return bool(following.group(2)) and following.group(2)[0].isupper()
    if lower.endswith("s") and verb not in _SINGULAR_VERBS and not verb.endswith("s"):
        return False  # "Setbacks can be tough", "Animals really help": a plural noun, not a name
    return (
        verb in _NAME_VERBS
        or _is_past(verb)
        or (verb.endswith("s") and not verb.endswith("ss") and len(verb) > 3 and verb.isalpha())
    ) and verb not in _STOP_WORDS - _NAME_VERBS


def _entity_type(name: str, tokens: list[str], before: str, people: _People) -> tuple[str, str | None]:
    """The canonical name and a type when some cue in or before the name says which kind of thing it is."""
    person = people.resolve(tokens[0]) if len(tokens) == 1 else people.forms.get(name.lower())
    if person is not None:
        return person, "PERSON"
    first, last = _norm(tokens[0]).rstrip("."), _norm(tokens[-1]).rstrip(".")
    if first in _TITLES and len(tokens) > 1:
        return name, "PERSON"
    if _RELATION_BEFORE.search(before):
        return name, "PERSON"
    if last in _ORG_SUFFIXES or first in ("university", "college", "bank"):
        return name, "ORG"
    if last in _PLACE_SUFFIXES or (first in _PLACE_PREFIXES and len(tokens) > 1):
        return name, "PLACE"
    if _PLACE_BEFORE.search(before) and not name.isupper():
        return name, "PLACE"
    return name, None


def _sentence_entities(sentence: _Sentence, people: _People, mid_forms: set[str]) -> list[ExtractedEntity]:
    """Named entities of one sentence from capitalisation alone."""
    text = sentence.text
    blocked = [(start, end) for start, end, _ in sentence.spans]
    runs: list[list[re.Match[str]]] = []
    current: list[re.Match[str]] = []
    pending: list[re.Match[str]] = []  # "of", "of the" waiting for the next capitalised word
    for word in sentence.words:
        token = word.group(0)
        if any(start < word.end() and word.start() < end for start, end in blocked):
            token = ""  # part of a time expression: breaks any name
        if token and _breaks_name(token):
            token = ""  # "I", "Hey", "Monday" end a name rather than join one
        if token and (_is_capitalised(token) or _is_acronym(token)):
            gap = text[(pending[-1] if pending else current[-1]).end() : word.start()] if current else ""
            joined = current and (
                gap.strip() == ""
                or (gap.strip() == "." and _norm(current[-1].group(0)) in _TITLES)
                or (gap.strip() == "&")
            )
            if current and not joined:
                runs.append(current)
                current = []
            if current:
                current.extend(pending)
            pending = []
            current.append(word)
            if token.endswith(("'s", "\u2019s")):
                runs.append(current)  # a possessive ends the name
                current = []
            continue
        if (
            token
            and current
            and len(pending) < 2
            and (token.lower() in _NAME_CONNECTORS or (pending and token.lower() == "the"))
            and text[(pending[-1] if pending else current[-1]).end() : word.start()].strip() == ""
        ):
            pending.append(word)  # "Game of Thrones", "Lord of the Rings"
            continue
        pending = []
        if current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)

    entities: list[ExtractedEntity] = []
    # The capitalised words opening a sentence are capitalised by position, not because they are names.
    opening_end = next((w.start() for w in sentence.words if not _is_capitalised(w.group(0))), len(text))
    for run in runs:
        starts_sentence = run[0].start() < opening_end
        # Leading articles always go ("the Golden Gate Bridge"); other stop words only where the sentence's own
        # capitalisation explains them ("So Mel"), so "Under Armour" mid-sentence stays whole.
        while run and (
            _norm(run[0].group(0)) in _ARTICLES or (run[0].start() < opening_end and _skippable(run[0].group(0)))
        ):
            run = run[1:]
        if (
            len(run) > 1
            and starts_sentence
            and _OPENING_VERB.search(run[0].group(0))
            and run[0].group(0).lower() not in mid_forms
        ):
            run = run[1:]  # "Visiting Paris", "Loved Harry Potter": the opener is a verb, not part of the name
            starts_sentence = False
        while run and (_norm(run[-1].group(0)) in _NAME_CONNECTORS or _norm(run[-1].group(0)) in _STOP_WORDS):
            run = run[:-1]
        if not run:
            continue
        tokens = [_strip_possessive(word.group(0)) for word in run]
        if len(tokens) == 1:
            token = tokens[0]
            if _skippable(token) or (len(token) < 2):
                continue
            if starts_sentence and not (
                _is_acronym(token)
                or people.resolve(token) is not None
                or token.lower() in mid_forms
                or _looks_like_name_subject(token, run[-1], sentence)
            ):
                continue
        name = text[run[0].start() : run[-1].end()]
        name = _strip_possessive(name).strip()
        canonical, entity_type = _entity_type(name, tokens, text[max(0, run[0].start() - 40) : run[0].start()], people)
        entities.append(ExtractedEntity(name=canonical, entity_type=entity_type))
    return entities


def _dedupe(entities: list[ExtractedEntity]) -> list[ExtractedEntity]:
    seen: dict[str, ExtractedEntity] = {}
    for entity in entities:
        key = f"{entity.kind}\0{entity.name.lower()}"
        if key not in seen:
            seen[key] = entity
        elif seen[key].entity_type is None and entity.entity_type is not None:
            seen[key].entity_type = entity.entity_type
    return list(seen.values())


# --- the extractor ----------------------------------------------------------------------------------------------


def _occurred(spans: list[tuple[int, int, TimeRange]]) -> TimeRange | None:
    for _, _, found in spans:
        if found.precise:
            return found
    return spans[0][2] if spans else None


def _annotate(text: str, spans: list[tuple[int, int, TimeRange]]) -> str:
    """Write the absolute date after each relative expression ("yesterday (on 7 May 2023)")."""
    for _start, end, found in reversed(spans):
        if _ABSOLUTE_TEXT.search(found.text) and not _RELATIONAL_TEXT.search(found.text):
            continue  # already absolute: "7 May 2023", "2023-05-07"
        text = f"{text[:end]} ({describe_range(found)}){text[end:]}"
    return text


def _subject_for(speaker: str) -> str:
    """How a fact names its speaker: the name, or "the user" / "the assistant" for roles."""
    return f"the {speaker.lower()}" if _is_role(speaker) else speaker


def _is_past_tense(text: str) -> bool:
    if _PAST_WORD.search(text):
        return True
    return any(m.group(1).lower() not in _ED_NOT_PAST for m in _PAST_REGULAR.finditer(text))


class OfflineExtractor:
    """Rule-based extraction: sentences, speakers, capitalised entities, dates and literal labels (see module doc)."""

    name = "offline"

    def extract(self, chunk: ChunkInput, settings: ExtractionSettings) -> ExtractionResult:
        mode = (settings.mode or "concise").lower()
        labels = _compile_labels(json.dumps(settings.entity_labels or [], sort_keys=True, default=str))
        segments = _segments(chunk)
        speakers: list[str] = []
        for segment in segments:
            if segment.speaker and segment.speaker not in speakers:
                speakers.append(segment.speaker)
        people = _People(speakers)
        analysed = [
            (
                segment,
                [
                    _analyse(_strip_leading(sentence, people), people, chunk.event_date)
                    for sentence in split_sentences(segment.text)
                ],
            )
            for segment in segments
        ]
        mid_forms = _mid_sentence_forms([s for _, sentences in analysed for s in sentences])
        if mode in ("verbatim", "chunks"):
            facts = [self._whole_chunk(chunk, settings, mode, analysed, speakers, people, mid_forms, labels)]
            return ExtractionResult(facts=[fact for fact in facts if fact is not None])

        facts: list[ExtractedFact] = []
        for segment, sentences in analysed:
            for group in _group_sentences([s for s in sentences if s.text], verbose=mode == "verbose"):
                facts.append(self._fact(segment, group, settings, people, mid_forms, labels))
        if not facts and not chunk.turns:
            # Someone explicitly asked to remember this text; small-talk filtering is for conversations only.
            whole = self._whole_chunk(chunk, settings, "verbatim", analysed, speakers, people, mid_forms, labels)
            facts = [whole] if whole is not None else []
        return ExtractionResult(facts=facts)

    def _fact(
        self,
        segment: _Segment,
        group: list[_Sentence],
        settings: ExtractionSettings,
        people: _People,
        mid_forms: set[str],
        labels: tuple[_LabelGroup, ...],
    ) -> ExtractedFact:
        source = " ".join(sentence.text for sentence in group)
        spans: list[tuple[int, int, TimeRange]] = []
        offset = 0
        for sentence in group:
            spans.extend((start + offset, end + offset, found) for start, end, found in sentence.spans)
            offset += len(sentence.text) + 1
        text = _annotate(source, spans)
        speaker = segment.speaker
        agent = bool(speaker) and speaker.lower() in AGENT_ROLES
        if speaker:
            rewritten = None if agent else _rewrite_first_person(text, _subject_for(speaker))
            if rewritten is None:
                subject = _subject_for(speaker)
                rewritten = f"{subject[:1].upper()}{subject[1:]} said: {text}"
            text = rewritten

        entities: list[ExtractedEntity] = []
        if settings.entities_allow_free_form:
            if speaker and not _is_role(speaker):
                entities.append(ExtractedEntity(name=speaker, entity_type="PERSON"))
            for sentence in group:
                entities.extend(_sentence_entities(sentence, people, mid_forms))
        fact = ExtractedFact(
            text=text,
            fact_type="experience" if agent else "world",
            fact_kind="event" if spans or _is_past_tense(source) else "ongoing",
            entities=_dedupe(entities),
        )
        self._apply_dates_and_labels(fact, source, spans, labels)
        if speaker:
            fact.metadata["speaker"] = speaker
        if segment.turn_id:
            fact.metadata["turn_id"] = str(segment.turn_id)
        return fact

    def _whole_chunk(
        self,
        chunk: ChunkInput,
        settings: ExtractionSettings,
        mode: str,
        analysed: list[tuple[_Segment, list[_Sentence]]],
        speakers: list[str],
        people: _People,
        mid_forms: set[str],
        labels: tuple[_LabelGroup, ...],
    ) -> ExtractedFact | None:
        """``verbatim`` and ``chunks``: the chunk text as one fact."""
        if not chunk.text.strip():
            return None
        sentences = [s for _, group in analysed for s in group]
        spans = [span for sentence in sentences for span in sentence.spans]
        entities: list[ExtractedEntity] = []
        if mode == "verbatim" and settings.entities_allow_free_form:
            entities.extend(ExtractedEntity(name=s, entity_type="PERSON") for s in speakers if not _is_role(s))
            for sentence in sentences:
                entities.extend(_sentence_entities(sentence, people, mid_forms))
        agent = bool(speakers) and all(s.lower() in AGENT_ROLES for s in speakers)
        fact = ExtractedFact(
            text=chunk.text,
            fact_type="experience" if agent else "world",
            fact_kind="event" if spans or _is_past_tense(chunk.text) else "ongoing",
            entities=_dedupe(entities),
        )
        self._apply_dates_and_labels(fact, chunk.text, spans if mode == "verbatim" else [], labels)
        if len(speakers) == 1:
            fact.metadata["speaker"] = speakers[0]
        turn_ids = [segment.turn_id for segment, _ in analysed if segment.turn_id]
        if len(turn_ids) == 1:
            fact.metadata["turn_id"] = str(turn_ids[0])
        return fact

    @staticmethod
    def _apply_dates_and_labels(
        fact: ExtractedFact,
        source: str,
        spans: list[tuple[int, int, TimeRange]],
        labels: tuple[_LabelGroup, ...],
    ) -> None:
        occurred = _occurred(spans)
        if occurred is not None:
            fact.occurred_start, fact.occurred_end = occurred.start, occurred.end
        for name, tag in _labels_for(source, labels) if labels else ():
            fact.entities.append(ExtractedEntity(name=name, kind="label"))
            if tag and name not in fact.tags:
                fact.tags.append(name)
