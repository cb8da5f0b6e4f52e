"""Language choice for the portal: Chinese by default, English with ?lang=en."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.datastructures import URL, QueryParams

from ledger.core.fields import CATEGORIES, CATEGORY_EN
from ledger.core.word_fields import ROLE_WORDS
from ledger.core.words import FLAG_REASONS, KIND_WORDS, PROJECT_KIND_WORDS, RESOURCE_WORDS

LANGS = ("zh", "en")

# The words for kinds, resources, roles and flag reasons are the records' own words
# (ledger.core.words), which the tx page and the in-browser verifier say too.
KIND_NAMES = KIND_WORDS
RESOURCE_NAMES = RESOURCE_WORDS
PROJECT_KIND_NAMES = PROJECT_KIND_WORDS
FLAG_REASON_NAMES = FLAG_REASONS
ROLE_NAMES = ROLE_WORDS
#: A match's direction and state.
MATCH_NAMES: dict[str, tuple[str, str]] = {
    "order": ("点单", "ordered by the county"),
    "take": ("接单", "taken by the organization"),
    "proposed": ("待对方确认", "awaiting the other side"),
    "accepted": ("已对接", "matched"),
    "declined": ("已拒绝", "declined"),
}


@dataclass(frozen=True)
class Lang:
    """The page's language and helpers the templates call as `t(zh, en)` and `switch_url`."""

    code: str

    @classmethod
    def pick(cls, value: str | None) -> Lang:
        return cls("en" if (value or "").lower().startswith("en") else "zh")

    @property
    def html_lang(self) -> str:
        return "en" if self.code == "en" else "zh-CN"

    def t(self, zh: str, en: str) -> str:
        return en if self.code == "en" else zh

    def category(self, code: int) -> str:
        if 1 <= code <= len(CATEGORIES):
            return CATEGORY_EN[code - 1] if self.code == "en" else CATEGORIES[code - 1]
        return self.t("未知", "unknown")

    def kind(self, kind: int) -> str:
        return self.t(*KIND_NAMES.get(kind, ("未知", "unknown")))

    def resource(self, kind: int) -> str:
        return self.t(*RESOURCE_NAMES.get(kind, ("未知", "unknown")))

    def project_kind(self, kind: int) -> str:
        return self.t(*PROJECT_KIND_NAMES.get(kind, ("未知", "unknown")))

    def flag_reason(self, code: int) -> str:
        """A flag's reason in words; an unknown code says so, with the number."""
        if code in FLAG_REASON_NAMES:
            return self.t(*FLAG_REASON_NAMES[code])
        return self.t(f"未知原因（代码 {code}）", f"unknown reason (code {code})")

    def role(self, role: str) -> str:
        return self.t(*ROLE_NAMES.get(role, ("未登记的签名者", "unregistered signer")))

    def match(self, word: str) -> str:
        return self.t(*MATCH_NAMES.get(word, (word, word)))

    def url(self, path: str, **params: object) -> str:
        """A link inside the portal that keeps this language."""
        query = {k: v for k, v in params.items() if v not in (None, "")}
        if self.code == "en":
            query["lang"] = "en"
        return path + ("?" + urlencode(query) if query else "")

    def switch_url(self, url: URL) -> str:
        """The same page in the other language."""
        params = [(k, v) for k, v in QueryParams(url.query).multi_items() if k != "lang"]
        if self.code == "zh":
            params.append(("lang", "en"))
        query = urlencode(params)
        return url.path + ("?" + query if query else "")
