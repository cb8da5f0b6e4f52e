"""The pieces a record in words (`ledger.core.words`) is made of: the names a server supplies for
the parties, projects and records a record names (`Names`, filled by
`ledger.store.queries.words.names_for`), one line of the record in words (`Field`), and the
`FieldBuilder` that adds them, marking what follows from the signed bytes alone and what does
not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ledger.core import display
from ledger.core.fields import ProjectKind
from ledger.core.hexes import hex0x

__all__ = [
    "ROLE_WORDS",
    "UNKNOWN",
    "CommitmentRef",
    "Field",
    "FieldBuilder",
    "Names",
    "Party",
    "ProjectRef",
    "RecordRef",
    "end_date_text",
]

UNKNOWN = ("未知", "unknown")
#: The roles a signer holds on chain, in words.
ROLE_WORDS: dict[str, tuple[str, str]] = {
    "COUNTY": ("县级乡村振兴部门", "county office"),
    "ORG": ("社会组织", "organization"),
    "AUDITOR": ("审计员", "auditor"),
    "ADMIN": ("民政部门管理员", "civil affairs admin"),
}
#: What a record a field points at is called when the read model does not know it, by the
#: field's key (any other: 未知记录 unknown record).
_UNKNOWN_TARGET = {"delivery": ("未知交付", "unknown delivery")}


@dataclass(frozen=True)
class Party:
    """A signer as the chain's registrations name it."""

    address: str
    role: str  # COUNTY, ORG, AUDITOR, ADMIN, or "" for none
    name: str | None = None
    code: str | None = None  # the county code or the organization's credit code
    name_en: str | None = None  # an organization's English name, where one is known

    @property
    def link(self) -> str | None:
        if self.role == "ORG" and self.code:
            return f"/orgs/{self.code}"
        if self.role == "COUNTY" and self.code:
            return f"/counties/{self.code}"
        return None

    def words(self) -> tuple[str, str]:
        zh, en = ROLE_WORDS.get(self.role, ("未登记的签名者", "unregistered signer"))
        name = self.name or self.address
        return f"{zh} {name}", f"{en} {self.name_en or name}"


@dataclass(frozen=True)
class ProjectRef:
    """A library project as the read model knows it (its latest anchor)."""

    project_id: str
    title: str
    project_kind: int = ProjectKind.NEED
    county: int = 0


@dataclass(frozen=True)
class CommitmentRef:
    """What a delivery or receipt needs of its commitment to read its quantity."""

    record_id: str
    org: str
    need_id: str
    resource_kind: int
    quantity: int
    unit: str


@dataclass(frozen=True)
class RecordRef:
    """Any other record a field points at, in a few words (a flagged record, a receipt's
    delivery)."""

    record_id: str
    kind: int
    zh: str
    en: str


@dataclass
class Names:
    """What the read model says about the parties, projects and records a record names (keys
    lower-case: addresses, 0x-hex ids); `delivery_commitment` maps a delivery to the commitment
    it draws on, `county_names` a county code to its name."""

    parties: dict[str, Party] = field(default_factory=dict)
    projects: dict[str, ProjectRef] = field(default_factory=dict)
    commitments: dict[str, CommitmentRef] = field(default_factory=dict)
    records: dict[str, RecordRef] = field(default_factory=dict)
    delivery_commitment: dict[str, str] = field(default_factory=dict)
    county_names: dict[int, str] = field(default_factory=dict)

    def party(self, address: str) -> Party:
        return self.parties.get(address.lower()) or Party(address, "")

    def county(self, code: int) -> tuple[str, str]:
        name = self.county_names.get(code)
        return (f"{name}（{code}）", f"{name} ({code})") if name else (str(code), str(code))


@dataclass(frozen=True)
class Field:
    """One line of a record in words. `signed` says whether the text follows from the signed
    bytes alone (True) or also from names the server looked up (False); `link` is a portal
    path; `raw` is the field's value as signed, for the copyable details."""

    key: str
    label_zh: str
    label_en: str
    zh: str
    en: str
    signed: bool = True
    link: str | None = None
    raw: str | None = None


def end_date_text(code: int) -> str:
    """A YYYYMMDD date code as YYYY-MM-DD, or — for none."""
    if not code:
        return display.NONE
    return f"{code // 10000:04d}-{code // 100 % 100:02d}-{code % 100:02d}"


class FieldBuilder:
    """The fields of one record in words, added one by one."""

    def __init__(self, names: Names) -> None:
        self.names = names
        self.fields: list[Field] = []

    def add(
        self,
        key: str,
        label: tuple[str, str],
        text: tuple[str, str] | str,
        *,
        signed: bool = True,
        link: str | None = None,
        raw: object = None,
    ) -> None:
        zh, en = (text, text) if isinstance(text, str) else text
        self.fields.append(
            Field(key, label[0], label[1], zh, en, signed, link, None if raw is None else str(raw))
        )

    def time(self, key: str, label: tuple[str, str], at: int, *, block: bool = False) -> None:
        """A unix time as Beijing time, labelled so: a time the record signs (to the minute),
        or with `block` its block's time (to the second; the chain's, not the signature's)."""
        text = display.beijing_time(at, seconds=block)
        both = (f"{text}（{display.TZ_LABEL}）", f"{text} (Beijing time)")
        self.add(key, label, both, signed=not block, raw=at)

    def project(self, key: str, label: tuple[str, str], project_id: bytes) -> ProjectRef | None:
        pid = hex0x(project_id)
        ref = self.names.projects.get(pid)
        if ref is None:
            self.add(key, label, ("未知项目", "unknown project"), signed=False, raw=pid)
        else:
            self.add(key, label, ref.title, signed=False, link=f"/projects/{pid}", raw=pid)
        return ref

    def record(self, key: str, label: tuple[str, str], record_id: bytes) -> None:
        """Another record this one points at, in the read model's words (not signed)."""
        rid = hex0x(record_id)
        ref = self.names.records.get(rid)
        text = (ref.zh, ref.en) if ref else _UNKNOWN_TARGET.get(key, ("未知记录", "unknown record"))
        self.add(key, label, text, signed=False, link=f"/verify?id={rid}", raw=rid)

    def commitment(self, commitment_id: bytes) -> CommitmentRef | None:
        cid = hex0x(commitment_id)
        ref = self.names.commitments.get(cid)
        if ref is None:
            self.add(
                "commitment",
                ("所属承诺", "Commitment"),
                ("未知承诺", "unknown commitment"),
                signed=False,
                raw=cid,
            )
            return None
        org = self.names.party(ref.org)
        amount = display.amount(ref.quantity, ref.resource_kind, ref.unit)
        zh_org = org.name or ref.org
        en_org = org.name_en or zh_org
        self.add(
            "commitment",
            ("所属承诺", "Commitment"),
            (f"{zh_org} 承诺 {amount}", f"{en_org}: commitment of {amount}"),
            signed=False,
            link=f"/verify?id={cid}",
            raw=cid,
        )
        self.project("need", ("对应需求", "For the need"), bytes.fromhex(ref.need_id[2:]))
        return ref
