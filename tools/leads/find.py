"""Finding leads by id or by a (partial, Chinese or English) name."""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import Select, null, select

from crm.access import visible_leads
from crm.models import Account, Contact, Lead
from tools.context import ToolContext
from tools.leads.access import get_visible_lead, refuse_trainer
from tools.text import is_cjk_token, name_tokens, token_spans

# -- find -----------------------------------------------------------------------------------

# an id, not a duration or a share ("线索72小时跟进率" is no lead 72)
ID_PATTERN = re.compile(r"(?:\blead\b|线索|编号|#)\s*(?:no\.?\s*|number\s*)?[#:：\-]?\s*(\d{1,9})(?!\d)"
                        r"(?!\s*(?:小时|天|日|号|周|个?月|年|点|h\b|%|hours?|days?))", re.IGNORECASE)  # "线索 10月底进来的": a date
MIN_COVERAGE = 0.75  # idf-weighted share of what the question names (see _mention_weight) a lead must cover
MIN_MATCHED_IDF = 2.5  # a match must rest on something specific, not only on "医院" or "有限公司"
MIN_CORPUS = 50  # idf is computed as if at least this many leads were visible, so a rep with 3 leads still matches


@dataclass
class LeadMatch:
    lead_id: int
    name: str
    account: str
    status: str
    score: float  # 1.0 = the exact id; otherwise 0–0.99, how much of the question the lead's names cover
    matched_on: str  # id / account / account_en / lead / contact

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


VERBATIM_SCORE = 0.995  # the account's whole name appears verbatim in the question


@dataclass
class _QueryTerms:
    """What the question names, weighed against the visible leads' names."""

    query: str
    spans: list[tuple[str, int, int]]  # (token, start, end) in the question
    expand: dict[str, set[str]]  # question token → the lead-name tokens it matches
    df: dict[str, int]  # question token → how many visible leads it matches
    idf: dict[str, float]
    indexed: list[NameIndex] = field(default_factory=list)  # the visible leads' names, as weighed
    _product_only: dict[str, bool] = field(default_factory=dict)

    def only_in_products(self, q: str) -> bool:
        """Some lead has the token, but only in its own (product) name: "状态" of 状态监测系统. Looked up
        when a weight needs it, once per token (a scan of every visible lead's names)."""
        if q not in self._product_only:
            forms = self.expand[q]
            self._product_only[q] = self.df[q] > 0 and not any(
                not forms.isdisjoint(i.fields[f]) for i in self.indexed for f in NAME_FIELDS)
        return self._product_only[q]


def find_leads(*, ctx: ToolContext, query: str, limit: int = 5) -> list[LeadMatch]:
    """Leads the user may see that the question names — by id ("lead 123", "#123", "线索123"),
    lead name, account name (zh or en), the lead's contact, or a fragment of any of these
    ("第六人民医院", "Helios", "宁波宏达风电"). Best match first; several close matches mean the
    question is ambiguous. An exact id of a lead the user may not see raises PermissionDenied;
    no match gives an empty list."""
    refuse_trainer(ctx)
    m = ID_PATTERN.search(query)
    if m:
        return _find_by_id(ctx, int(m.group(1)))
    return _named_among(ctx, query, _visible_lead_names(ctx), limit)


def find_hidden_leads(*, ctx: ToolContext, query: str, limit: int = 1) -> list[LeadMatch]:
    """Leads the question names, matched as ``find_leads`` matches, among those the asker may
    *not* see: "Pacific Auto Components" of another rep's account. Used only to refuse — the
    matches never reach the asker."""
    visible = visible_leads(ctx.session, ctx.user)
    if ctx.scope.everything:
        return []  # nothing is hidden from an admin
    hidden = select(Lead).where(Lead.id.not_in(visible.with_only_columns(Lead.id)))
    return _named_among(ctx, query, ctx.session.execute(_lead_names_query(hidden)).all(), limit)


CLOSE_TO_BEST = 0.05  # matches this close to the best one are as likely: a choice, not an answer


def close_to_best(matches: list[LeadMatch]) -> list[LeadMatch]:
    """The matches (best first) as likely as the best one."""
    return [m for m in matches if m.score >= matches[0].score - CLOSE_TO_BEST] if matches else []


def find_among(*, ctx: ToolContext, query: str, lead_ids: set[int], limit: int = 10) -> list[LeadMatch]:
    """Of the given leads (an answer's alerts' or suggestions' leads, already the asker's), the ones the
    question names, matched as ``find_leads`` matches: "成都天成那条预警" among the open alerts' leads."""
    if not lead_ids:
        return []
    rows = ctx.session.execute(_lead_names_query(select(Lead)).where(Lead.id.in_(lead_ids))).all()
    return _named_among(ctx, query, rows, limit)


def _named_among(ctx: ToolContext, query: str, rows: list[Any], limit: int) -> list[LeadMatch]:
    """The rows (see ``_visible_lead_names``) whose names the question names, best first."""
    return _best_matches(_with_details(ctx, _candidates(query, rows)), limit)


def _with_details(ctx: ToolContext, found: list[tuple[float, Any, LeadMatch]]) -> list[tuple[float, datetime, LeadMatch]]:
    """The candidates with their leads' status and creation time (the newest wins a tie), read for them only."""
    if not found:
        return []
    details = {i: (status, created) for i, status, created in ctx.session.execute(
        select(Lead.id, Lead.status, Lead.created_at).where(Lead.id.in_({m.lead_id for _, _, m in found}))).all()}
    out = []
    for score, _none, match in found:
        match.status, created = details[match.lead_id]
        out.append((score, created, match))
    return out


def _candidates(query: str, rows: list[Any]) -> list[tuple[float, Any, LeadMatch]]:
    """(score, —, match) of each row whose names the question names; else the abbreviation matches."""
    q_spans = token_spans(query)
    if not q_spans or not rows:
        return []
    if NUMBERED_HOSPITAL.search(query) and (numbered := _abbreviation_matches(query, rows)):
        return numbered  # "石家庄一院": that hospital, not every 石家庄 account the place name matches
    indexed = [_row_index(row[4], row[5], row[1], row[6]) for row in rows]
    terms = _weigh_query_terms(query, q_spans, indexed, [row[4] or row[5] for row in rows])
    said = set().union(*terms.expand.values())
    matches = [match for row, (fields, toks, _latin) in zip(rows, indexed, strict=True)
               if not toks.isdisjoint(said) and (match := _match_lead(terms, row, fields, toks)) is not None]
    if len({m.account for _, _, m in matches}) > 1 and (abbreviated := _abbreviation_matches(query, rows)):
        return abbreviated  # "沈阳卫健委" among 沈阳明辉… and 沈阳市卫生健康委员会: the one it abbreviates, not every 沈阳
    return matches or _abbreviation_matches(query, rows)


@lru_cache(maxsize=131072)
def _row_index(account: str | None, account_en: str | None, name: str | None, contact: str | None) -> NameIndex:
    """One lead's name tokens by field, all of them, and the Latin ones — once per process for each
    combination of names (every question scans the same names)."""
    fields = {"account": _tokens(account) | _pinyin_tokens(account), "account_en": _tokens(account_en), "lead": _tokens(name),
              "contact": _tokens(contact)}
    every = frozenset().union(*fields.values())
    return NameIndex(fields, every, frozenset(t for t in every if not is_cjk_token(t)))


ABBREVIATION_SCORE = 0.9
NUMBERED_HOSPITAL = re.compile(r"[一二三四五六七八九十]院")


def _abbreviation_matches(query: str, rows: list[Any]) -> list[tuple[float, Any, LeadMatch]]:
    """Leads of the one account a Chinese abbreviation in the question stands for: its characters
    in order within the account's name ("南宁卫健委" → 南宁市卫生健康委员会, "兰州三院" → 兰州市第三人民医院,
    "一院" → 上海市第一人民医院). The longest such piece wins, and only when one account fits it."""
    names = {row[4] for row in rows if row[4]}
    by_first: dict[str, list[str]] = {}
    for name in names:
        by_first.setdefault(name[0], []).append(name)
    for piece in _abbreviation_candidates(query):
        literal = _said_word_for_word(query, piece, names)
        if literal:  # "成都天成…" said word for word: that account, never one it would abbreviate (成都市天河区…)
            return _leads_of(rows, literal.pop(), "account") if len(literal) == 1 else []
        # only a numbered hospital may start elsewhere in the name
        pool = names if NUMBERED_HOSPITAL.fullmatch(piece) else by_first.get(piece[0], ())
        fits = [name for name in pool if _abbreviates(piece, name) and _qualifier_agrees(query, piece, name)]
        if len(fits) == 1:
            return _leads_of(rows, fits[0], "abbreviation")
        if fits:
            return []  # the longest piece fits several accounts: ambiguous, not a guess
    return []


def _said_word_for_word(query: str, piece: str, names: set[str]) -> set[str]:
    """The account names holding ``piece`` as said, standing alone in the question (four characters, or a
    name's first three)."""
    if not _said_whole(query, piece):
        return set()
    return {name for name in names if piece in name and (len(piece) >= 4 or name.startswith(piece))}


def _leads_of(rows: list[Any], account: str, how: str) -> list[tuple[float, Any, LeadMatch]]:
    return [(ABBREVIATION_SCORE, row[3], LeadMatch(row[0], row[1], row[4], row[2], 0.0, how)) for row in rows if row[4] == account]


#: words between a place and a numbered hospital that qualify nothing ("那个一院", "看下三院")
FILLER_CHARS = set("那这个的边家下看查问说和跟找把给去呢吧啊了在是")


def names_its_account(query: str, account: str | None) -> bool:
    """The question says the account's own leading words — a Chinese name's first two characters ("佛山中科" for
    佛山中科新能源…), an English name's first word ("the Helios one") — not only a word many names share
    ("电力", "口腔"): what a match must show before a customer is taken as named."""
    if not account:
        return False
    if "\u4e00" <= account[0] <= "\u9fff":  # or its place or brand in pinyin, as English speakers type it ("the Guiyang … call")
        words = set(re.findall(r"[a-z]+", query.lower()))  # whole words, as pinyin tokens are matched ("how long" is no 龙华)
        return account[:2] in query or any(t.removeprefix(PINYIN) in words for t in _pinyin_tokens(account))
    first = re.findall(r"[A-Za-z]+", account)
    return bool(first) and re.search(rf"(?<![a-z]){re.escape(first[0].lower())}(?![a-z])", query.lower()) is not None


def _said_whole(query: str, piece: str) -> bool:
    """``piece`` stands alone in the question: nothing but a space, punctuation or a filler word on either
    side ("成都天成 生产总监…"), so it is a name as said — not the start of another one ("杭州市第一…")."""
    def free(ch: str) -> bool:
        return not ("\u4e00" <= ch <= "\u9fff") or ch in FILLER_CHARS

    return any((m.start() == 0 or free(query[m.start() - 1])) and (m.end() == len(query) or free(query[m.end()]))
               for m in re.finditer(re.escape(piece), query))


def _qualifier_agrees(query: str, piece: str, name: str) -> bool:
    """A bare numbered hospital ("一院") stands for ``name`` only when what the question puts before it
    is not another place: "上海一院" is not 厦门市第一人民医院 (its "上海" is not in that name), while
    "那个一院" and "厦门一院" may be."""
    if not NUMBERED_HOSPITAL.fullmatch(piece):
        return True
    for m in re.finditer(re.escape(piece), query):
        before = [ch for ch in query[max(0, m.start() - 2):m.start()] if "\u4e00" <= ch <= "\u9fff"]
        if any(ch not in FILLER_CHARS and ch not in name for ch in before):
            return False
    return True


def _abbreviation_candidates(query: str) -> list[str]:
    """Pieces of the question's Chinese runs that could abbreviate a name, longest first: three
    characters or more, or a numbered hospital ("三院")."""
    pieces = {run[i:j] for run in re.findall(r"[\u4e00-\u9fff]{2,}", query)
              for i in range(len(run)) for j in range(i + 2, min(len(run), i + 10) + 1)}
    return sorted((p for p in pieces if len(p) >= 3 or NUMBERED_HOSPITAL.fullmatch(p)), key=lambda p: (-len(p), p))


def _abbreviates(piece: str, name: str) -> bool:
    """``piece`` is a gapped abbreviation of ``name``: its characters appear in order, it is not a plain
    substring, and — unless it is a numbered hospital — it starts where the name starts."""
    if piece in name or (not NUMBERED_HOSPITAL.fullmatch(piece) and piece[0] != name[0]):
        return False
    it = iter(LEGAL_FORM.sub("", name))  # "西部有" is no abbreviation of 西安睿驰汽车零部件有限公司: nobody shortens 有限公司
    return all(ch in it for ch in piece)


#: the legal form ending a Chinese company name, which no abbreviation takes characters from
LEGAL_FORM = re.compile(r"(股份)?有限(责任)?公司$|(集团)?(股份)?公司$")


def _find_by_id(ctx: ToolContext, lead_id: int) -> list[LeadMatch]:
    """The lead the question names by id: none if it does not exist, refused if not visible."""
    if ctx.session.get(Lead, lead_id) is None:
        return []
    lead = get_visible_lead(ctx, lead_id)
    return [LeadMatch(lead.id, lead.name, lead.account.name, lead.status, 1.0, "id")]


def _visible_lead_names(ctx: ToolContext) -> list[Any]:
    """(id, name, status, created_at, account, account_en, contact) of every lead the user may see."""
    return ctx.session.execute(_lead_names_query(visible_leads(ctx.session, ctx.user))).all()


def _lead_names_query(stmt: Select) -> Select:
    """The names of the leads — status and creation time left empty: they are read for the matches only
    (``_with_details``), so a scan of 20,000 names converts no dates."""
    return (stmt.with_only_columns(Lead.id, Lead.name, null().label("status"), null().label("created_at"), Account.name,
                                   Account.name_en, Contact.name)
            .join(Account, Account.id == Lead.account_id)
            .outerjoin(Contact, Contact.id == Lead.contact_id))


class NameIndex(NamedTuple):
    """One lead's name tokens (a Chinese account's also as pinyin: "Boyuan lead")."""

    fields: dict[str, frozenset[str]]
    every: frozenset[str]
    latin: frozenset[str]


PINYIN = "py:"  # pinyin tokens match a question word exactly, never by prefix ("how long" is no 龙华)


@lru_cache(maxsize=65536)
def _pinyin_tokens(name: str | None) -> frozenset[str]:
    """The pinyin of a Chinese company name's first two characters (usually the city) and of the two
    after them once 市/区/省 is dropped (usually the brand): 南宁博远储能 → nanning, boyuan;
    杭州滨江精密 → hangzhou, binjiang. Only those places: a pair across a word boundary (南宁|博 →
    "ningbo") would name another city."""
    from pypinyin import lazy_pinyin

    chars = re.sub(r"[^\u4e00-\u9fff]", "", name or "")
    if len(chars) < 4:
        return frozenset()
    rest = chars[3:] if chars[2] in "市区省县" else chars[2:]
    return frozenset(PINYIN + "".join(lazy_pinyin(part)) for part in (chars[:2], rest[:2]) if len(part) == 2)


@lru_cache(maxsize=65536)
def _tokens(name: str | None) -> frozenset[str]:
    """A name's tokens, once per process: the same names are scanned for every question."""
    return frozenset(name_tokens(name))


def _expand_token(q: str, vocab: set[str]) -> set[str]:
    """A Latin question word also matches longer words it begins and close spellings ("helio" → "helios");
    a Chinese place also its pinyin when a Latin name has it ("Helios苏州" → the Suzhou of "… AG (Suzhou)")."""
    if is_cjk_token(q):
        if len(q) == 2 and vocab:
            from pypinyin import lazy_pinyin

            romanised = "".join(lazy_pinyin(q))
            if romanised in vocab:
                return {q, romanised}
        return {q}
    forms = {v for v in vocab if not v.startswith(PINYIN) and (v == q or (len(q) >= 3 and v.startswith(q))
             or (len(q) >= 5 and difflib.SequenceMatcher(None, q, v).ratio() >= 0.8))}
    if forms or len(q) < 4 or PINYIN + q not in vocab:
        return forms
    return {PINYIN + q}  # only a word no Latin name has: "Boyuan", not the "Suzhou" of "Helios Wind Systems AG (Suzhou)"


def _weigh_query_terms(query: str, q_spans: list[tuple[str, int, int]], indexed: list[NameIndex],
                       accounts: list[str | None]) -> _QueryTerms:
    """The question's tokens with their expansions and idf over the visible leads' accounts (as if at least
    MIN_CORPUS): a word counts once per account, so "卓越" stays specific for a rep whose one 卓越 customer
    has eleven leads. The Latin vocabulary is gathered only when the question has a Latin word to expand."""
    latin_words = any(not is_cjk_token(q) for q, _, _ in q_spans)
    vocab: set[str] = set().union(*(i.latin for i in indexed)) if latin_words else set()
    expand = {q: _expand_token(q, vocab) for q, _, _ in q_spans}
    n = max(len(set(accounts)), MIN_CORPUS)
    df = {q: _document_frequency(forms, indexed, accounts) for q, forms in expand.items()}
    idf = {q: math.log((n + 1) / (d + 0.5)) for q, d in df.items()}
    return _QueryTerms(query, q_spans, expand, df, idf, indexed)


#: the fields that name the customer (a lead's own name is its product: "风电变流器状态监测系统")
NAME_FIELDS = ("account", "account_en", "contact")


def _document_frequency(forms: set[str], indexed: list[NameIndex], accounts: list[str | None]) -> int:
    """How many accounts have a lead with one of the forms among its names' tokens."""
    if len(forms) == 1:
        form = next(iter(forms))
        return len({a for i, a in zip(indexed, accounts, strict=True) if form in i.every})
    return len({a for i, a in zip(indexed, accounts, strict=True) if not i.every.isdisjoint(forms)})


def _match_lead(terms: _QueryTerms, row: Any, fields: dict[str, set[str]],
                toks: set[str]) -> tuple[float, Any, LeadMatch] | None:
    """(score, created_at, match) when the lead covers enough of what the question names, else None."""
    lead_id, name, status, created, account, account_en, _contact = row
    hit = [(q, a, b) for q, a, b in terms.spans if toks & terms.expand[q]]
    if not hit:
        return None
    hit_tokens = {q for q, _, _ in hit}
    got = sum(terms.idf[q] for q in hit_tokens)
    coverage = got / _mention_weight(terms, hit)
    if got < MIN_MATCHED_IDF or coverage < MIN_COVERAGE:
        return None
    score = VERBATIM_SCORE if _names_account_verbatim(terms.query, account, account_en) else 0.99 * coverage
    match = LeadMatch(lead_id, name, account, status, 0.0, _matched_field(terms, hit_tokens, fields))
    return round(score, 3), created, match


def _matched_field(terms: _QueryTerms, hit_tokens: set[str], fields: dict[str, set[str]]) -> str:
    """The field whose tokens carry most of the matched idf weight (the first on a tie)."""
    by_field = {f: sum(terms.idf[q] for q in hit_tokens if fields[f] & terms.expand[q])
                for f in ("account", "account_en", "contact", "lead")}
    best = max(by_field, key=lambda f: by_field[f])
    if best == "lead":  # "oakridge renewal status": the account's name was said too, so it is the account
        best = next((f for f in ("account", "account_en", "contact") if by_field[f] >= MIN_MATCHED_IDF), best)
    return best


def _names_account_verbatim(query: str, account: str | None, account_en: str | None) -> bool:
    """The question holds the account's whole Chinese name, or its English name (≥ 4 characters, any case)."""
    return bool((account and account in query) or (account_en and len(account_en) >= 4 and account_en.lower() in query.lower()))


def _best_matches(matches: list[tuple[float, datetime, LeadMatch]], limit: int) -> list[LeadMatch]:
    """Best first (score, then newest, then highest id); a verbatim name beats partial ones
    ("上海市中医院" vs "上海市中心医院")."""
    if any(score == VERBATIM_SCORE for score, _, _ in matches):
        matches = [m for m in matches if m[0] == VERBATIM_SCORE]
    matches.sort(key=lambda x: (-x[0], -x[1].timestamp(), -x[2].lead_id))
    out = []
    for score, _created, match in matches[:limit]:
        match.score = score
        out.append(match)
    return out


def _mention_weight(terms: _QueryTerms, hit: list[tuple[str, int, int]]) -> float:
    """The idf weight of what the question names, as seen from one candidate: its matched
    tokens; unmatched tokens known anywhere in the visible leads (they name something this lead
    lacks, e.g. "第一" against "第六"); and unknown tokens *inside* the matched stretch of the
    question (a mismatch within the name). Unknown words around it ("这条线索怎么样") are filler;
    a token whose characters are all covered by matches (the 伟医 of 张伟+医院) is a junction; a token known
    only from leads' product names and outside the name said weighs half ("Oakridge 现在啥状态")."""
    covered: set[int] = set()
    for _, a, b in hit:
        covered.update(range(a, b))
    lo, hi = min(a for _, a, _ in hit), max(b for _, _, b in hit)
    weigh: set[str] = {q for q, _, _ in hit}
    total = sum(terms.idf[q] for q in weigh)
    for q, a, b in terms.spans:
        if q not in weigh and not set(range(a, b)) <= covered:
            total += terms.idf[q] * _unmatched_share(terms, q, a >= lo and b <= hi)
            weigh.add(q)
    return total


def _unmatched_share(terms: _QueryTerms, q: str, inside: bool) -> float:
    """How much an unmatched question token counts against a lead: fully when some visible lead's customer
    has it or it sits inside the name said (a mismatch within it), half when only product names have it and it
    is outside ("Oakridge 现在啥状态": weak evidence), not at all for filler outside."""
    if not inside and terms.only_in_products(q):
        return 0.5
    return 1.0 if terms.df[q] > 0 or (inside and not FILLER.intersection(q)) else 0.0


#: characters of the words people put between an account and its product ("西安优诺那几条远程诊断的",
#: "南宁电力那俩大单 风电变流器跟储能运维的"): an unknown token holding one is filler, not a mismatch in a name
FILLER = frozenset("那这个几条的俩哪些么呢吗单跟")
