"""Redistributable text for synthetic pages, and deterministic samplers over it.

Everything here may ship with the project:

- **Public-domain texts**, written out from memory (so they may differ in small
  details from the canonical editions; punctuation is lightly adapted, e.g. dashes
  became commas): the opening of the US Declaration of Independence (1776), the
  Preamble of the US Constitution (1787), the Gettysburg Address (1863), the close of
  Lincoln's Second Inaugural Address (1865), Shakespeare's Sonnets 18, 29, 116 and 130
  (1609) and Emma Lazarus' "The New Colossus" (1883).
- **Prose written for tair-ocr** (letters, notices, technical notes, a recipe, a few
  German sentences), released with the project under its licence.
- **Generated fields**: names, addresses, dates, amounts, item lists and reference
  numbers, built from small word lists defined here.

All samplers take a :class:`numpy.random.Generator`, so a seed fixes the output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

__all__ = [
    "GERMAN_WORDS",
    "InvoiceItem",
    "Passage",
    "address_lines",
    "amount",
    "company_name",
    "date_string",
    "invoice_items",
    "money",
    "passages",
    "person_name",
    "phone_number",
    "reference_number",
    "sample_paragraphs",
    "sample_sentence",
    "sample_text",
    "subject_line",
]


@dataclass(frozen=True)
class Passage:
    """One source text: its name, kind (``"prose"``, ``"verse"``, ``"german"``) and body."""

    name: str
    kind: str
    body: str

    @property
    def words(self) -> list[str]:
        return self.body.split()

    @property
    def lines(self) -> list[str]:
        return [ln.strip() for ln in self.body.strip().splitlines() if ln.strip()]


# ------------------------------------------------------------------ public domain

_DECLARATION = """
When in the Course of human events, it becomes necessary for one people to dissolve the
political bands which have connected them with another, and to assume among the powers of
the earth, the separate and equal station to which the Laws of Nature and of Nature's God
entitle them, a decent respect to the opinions of mankind requires that they should declare
the causes which impel them to the separation. We hold these truths to be self-evident, that
all men are created equal, that they are endowed by their Creator with certain unalienable
Rights, that among these are Life, Liberty and the pursuit of Happiness. That to secure these
rights, Governments are instituted among Men, deriving their just powers from the consent of
the governed, That whenever any Form of Government becomes destructive of these ends, it is
the Right of the People to alter or to abolish it, and to institute new Government, laying
its foundation on such principles and organizing its powers in such form, as to them shall
seem most likely to effect their Safety and Happiness. Prudence, indeed, will dictate that
Governments long established should not be changed for light and transient causes; and
accordingly all experience hath shewn, that mankind are more disposed to suffer, while evils
are sufferable, than to right themselves by abolishing the forms to which they are
accustomed. But when a long train of abuses and usurpations, pursuing invariably the same
Object evinces a design to reduce them under absolute Despotism, it is their right, it is
their duty, to throw off such Government, and to provide new Guards for their future
security.
"""

_PREAMBLE = """
We the People of the United States, in Order to form a more perfect Union, establish Justice,
insure domestic Tranquility, provide for the common defence, promote the general Welfare,
and secure the Blessings of Liberty to ourselves and our Posterity, do ordain and establish
this Constitution for the United States of America.
"""

_GETTYSBURG = """
Four score and seven years ago our fathers brought forth on this continent, a new nation,
conceived in Liberty, and dedicated to the proposition that all men are created equal. Now
we are engaged in a great civil war, testing whether that nation, or any nation so conceived
and so dedicated, can long endure. We are met on a great battle-field of that war. We have
come to dedicate a portion of that field, as a final resting place for those who here gave
their lives that that nation might live. It is altogether fitting and proper that we should
do this. But, in a larger sense, we can not dedicate, we can not consecrate, we can not
hallow, this ground. The brave men, living and dead, who struggled here, have consecrated it,
far above our poor power to add or detract. The world will little note, nor long remember
what we say here, but it can never forget what they did here. It is for us the living,
rather, to be dedicated here to the unfinished work which they who fought here have thus far
so nobly advanced. It is rather for us to be here dedicated to the great task remaining
before us, that from these honored dead we take increased devotion to that cause for which
they gave the last full measure of devotion, that we here highly resolve that these dead
shall not have died in vain, that this nation, under God, shall have a new birth of freedom,
and that government of the people, by the people, for the people, shall not perish from the
earth.
"""

_SECOND_INAUGURAL = """
With malice toward none, with charity for all, with firmness in the right as God gives us to
see the right, let us strive on to finish the work we are in, to bind up the nation's wounds,
to care for him who shall have borne the battle and for his widow and his orphan, to do all
which may achieve and cherish a just and lasting peace among ourselves and with all nations.
"""

_SONNET_18 = """
Shall I compare thee to a summer's day?
Thou art more lovely and more temperate:
Rough winds do shake the darling buds of May,
And summer's lease hath all too short a date;
Sometime too hot the eye of heaven shines,
And often is his gold complexion dimm'd;
And every fair from fair sometime declines,
By chance or nature's changing course untrimm'd;
But thy eternal summer shall not fade,
Nor lose possession of that fair thou ow'st;
Nor shall Death brag thou wander'st in his shade,
When in eternal lines to time thou grow'st:
So long as men can breathe or eyes can see,
So long lives this, and this gives life to thee.
"""

_SONNET_29 = """
When, in disgrace with fortune and men's eyes,
I all alone beweep my outcast state,
And trouble deaf heaven with my bootless cries,
And look upon myself and curse my fate,
Wishing me like to one more rich in hope,
Featured like him, like him with friends possess'd,
Desiring this man's art and that man's scope,
With what I most enjoy contented least;
Yet in these thoughts myself almost despising,
Haply I think on thee, and then my state,
Like to the lark at break of day arising
From sullen earth, sings hymns at heaven's gate;
For thy sweet love remember'd such wealth brings
That then I scorn to change my state with kings.
"""

_SONNET_116 = """
Let me not to the marriage of true minds
Admit impediments. Love is not love
Which alters when it alteration finds,
Or bends with the remover to remove.
O no! it is an ever-fixed mark
That looks on tempests and is never shaken;
It is the star to every wand'ring bark,
Whose worth's unknown, although his height be taken.
Love's not Time's fool, though rosy lips and cheeks
Within his bending sickle's compass come;
Love alters not with his brief hours and weeks,
But bears it out even to the edge of doom.
If this be error and upon me proved,
I never writ, nor no man ever loved.
"""

_SONNET_130 = """
My mistress' eyes are nothing like the sun;
Coral is far more red than her lips' red;
If snow be white, why then her breasts are dun;
If hairs be wires, black wires grow on her head.
I have seen roses damask'd, red and white,
But no such roses see I in her cheeks;
And in some perfumes is there more delight
Than in the breath that from my mistress reeks.
I love to hear her speak, yet well I know
That music hath a far more pleasing sound;
I grant I never saw a goddess go;
My mistress, when she walks, treads on the ground:
And yet, by heaven, I think my love as rare
As any she belied with false compare.
"""

_NEW_COLOSSUS = """
Not like the brazen giant of Greek fame,
With conquering limbs astride from land to land;
Here at our sea-washed, sunset gates shall stand
A mighty woman with a torch, whose flame
Is the imprisoned lightning, and her name
Mother of Exiles. From her beacon-hand
Glows world-wide welcome; her mild eyes command
The air-bridged harbor that twin cities frame.
"Keep, ancient lands, your storied pomp!" cries she
With silent lips. "Give me your tired, your poor,
Your huddled masses yearning to breathe free,
The wretched refuse of your teeming shore.
Send these, the homeless, tempest-tost to me,
I lift my lamp beside the golden door!"
"""

# ------------------------------------------------------------- written for tair-ocr

_OFFICE_MOVE = """
Dear colleagues, as announced at the staff meeting on 14 March, the accounts team will move
from Room 214 to the third floor of Building C on Friday, 28 April 2023. Please pack your
desks by 15:30 on Thursday; crates are labelled A1 to A40 and will be collected by the
removal firm at 7:00 the next morning. Telephones keep their extensions, so you can still be
reached on 0161 496 0732 and the usual numbers. The printer on the second floor (HP-4 in the
old numbering) stays where it is until the new one is installed. If anything goes missing,
write to facilities@example.org with the crate number and a short description. Thank you
for your patience during the move.
"""

_MAINTENANCE = """
Maintenance note 7/2022: the pump in line B was serviced on 3 October. The seals were
replaced, the bearing was greased with 40 g of lithium grease, and the motor current was
measured at 11.8 A under full load, which is within 5% of the rated value. The pressure
switch tripped twice during the test run at 6.2 bar; its set point was raised to 6.5 bar
and the test was repeated without faults. Next inspection is due after 2,000 running hours
or in six months, whichever comes first. Spare parts used: 2 x O-ring 45 x 3 mm, 1 x shaft
seal SK-18, 1 x filter cartridge F-220. Total time on site: 3 h 40 min.
"""

_RECIPE = """
For the bread, mix 500 g of strong flour with 10 g of salt and 7 g of dried yeast. Add 320 ml
of warm water and 2 tablespoons of olive oil, then knead for about ten minutes until the
dough is smooth and springs back when pressed. Leave it covered in a warm place for 1 hour,
or until it has doubled in size. Knock it back, shape it into a round loaf and let it rise
again for 40 minutes on a floured tray. Bake at 220 degrees (gas mark 7) for 30 to 35
minutes. The loaf is done when it sounds hollow as you tap the base. Let it cool on a rack
before slicing; it keeps for 3 days in a paper bag.
"""

_PRINTING = """
Before the printing press, every book was copied by hand, and a large volume could take a
scribe more than a year. Movable type changed this in the fifteenth century: letters cast in
metal could be set into lines, inked, pressed onto paper, and then taken apart and used
again. Within fifty years presses were working in more than 200 towns, and millions of
copies had been printed. Typefaces followed the handwriting of their time at first, but
printers soon found that simpler shapes were easier to cut and easier to read. Many of the
letterforms we still use, with their thick and thin strokes and small serifs, come from
those early workshops.
"""

_SHIPPING = """
Your order No. 48213-C was dispatched on Monday, 6 November, in 3 parcels with a total
weight of 17.4 kg. Parcel 1 of 3 holds the shelving units, parcel 2 the brackets and screws,
and parcel 3 the assembly instructions and the spare hinges. Delivery is expected within 2
to 4 working days. If nobody is at home, the driver will leave a card with a collection
number; parcels are kept at the depot for 7 days. Please check the contents against the
packing list and report any damage within 48 hours, quoting your order number and the
tracking code printed on each label.
"""

_MINUTES = """
Minutes of the meeting of the garden committee, held on 12 June at 19:00 in the village
hall. Present: 9 members; apologies from two. The treasurer reported a balance of 1,385.60
at the end of May, after paying 240.00 for the new water tank and 62.75 for seeds and
compost. It was agreed to hold the summer open day on Saturday 22 July from 10 am to 4 pm,
with tea, cakes and a plant sale. Volunteers are needed for the gate, the tea tent and the
car park; please add your name to the list on the notice board. The meeting closed at 20:45.
The next meeting will be on 11 September.
"""

_LIBRARY = """
The reading room is open from 9:00 to 17:30 on weekdays and from 10:00 to 13:00 on
Saturdays. Readers may borrow up to 8 items at a time for a period of 3 weeks; loans can be
renewed twice, online or at the desk, unless another reader has reserved the item. Rare
books, maps and bound newspapers must be read in the room and may not be photographed with
flash. Lockers take a 1 coin deposit that is returned when the key is handed back. Please
keep the noise down, switch phones to silent, and ask the staff if you need help finding a
catalogue entry or a copy of an older edition.
"""

_WEATHER = """
The morning began grey and still, with fog lying in the low fields and the trees along the
river showing only as dark shapes. By eleven the sun had burned through, and the temperature
rose quickly to 21 degrees. A light wind came up from the west in the afternoon, carrying the
smell of cut hay from the farms on the hill. Swallows flew low over the water, and a heron
stood motionless at the edge of the reeds for almost an hour. Towards evening the clouds
built up again in the south, and the forecast warned of thunder before midnight, with up to
15 mm of rain in places.
"""

_SOFTWARE = """
Release 2.4.1 fixes a crash when opening files larger than 4 GB and a rounding error in the
export of totals, which could show 0.01 too much on some invoices. The minimum supported
version of the database is now 12.3; older versions still work but are no longer tested.
Settings are kept in the same place as before, so no action is needed after the update. To
roll back, install version 2.3.9 from the archive and restart the service. Known issue: the
preview of scanned pages may appear blank at zoom levels above 400%; this will be fixed in
the next release, planned for the first week of February.
"""

_COMPLAINT = """
Dear Sir or Madam, I am writing about the washing machine (model WM-1400, serial number
K7-2039-5518) that I bought from your shop on 2 August. Since the second week it has stopped
in the middle of the spin cycle and shows the error code E21. I have cleaned the filter as
the manual suggests, on page 34, but the fault comes back every few days. As the machine is
still under guarantee, I would be grateful if you could arrange a repair or a replacement.
I can be reached at the number below on weekdays after 5 pm. Yours faithfully, M. Okafor.
"""

_BIRDS = """
Garden birds need water as much as food, especially in a dry summer or a hard frost. A
shallow dish, no deeper than 5 cm, with a few stones in it lets small birds drink and bathe
without risk. Change the water every day or two and scrub the dish once a week. Feeders
should hang at least 2 metres from bushes where cats can hide, but close enough to cover for
the birds to escape a hawk. Sunflower hearts suit finches and tits; robins and blackbirds
prefer mealworms or chopped apple scattered on the ground. Do not put out whole peanuts or
bread in spring, when adults may feed them to their chicks.
"""

_BICYCLE = """
Check the tyres before every ride: road tyres usually need 80 to 100 psi, while a hybrid or
town bike rides well at 50 to 70 psi. Squeeze both brake levers; they should stop well
before touching the handlebar. Lift the back wheel, turn the pedals and shift through all 8
gears, listening for the chain rubbing against the front changer. Once a month, wipe the
chain with a dry cloth, add one drop of oil to each link, and wipe off the excess after a
few minutes. Replace brake pads when the grooves are worn away, and have the wheels trued if
they wobble by more than 2 mm.
"""

_TRAIN = """
Passengers are advised that the 08:17 service to Norwich will depart from platform 4 instead
of platform 2 this morning. The train will call at all stations except Hartley Green, where
the footbridge is closed for repairs until 31 May. Customers for Hartley Green should travel
to Elmstead and take the replacement bus, which leaves from stop C outside the station every
30 minutes. First class is at the front of the train, in coaches A and B. Tickets bought
for the cancelled 07:52 service will be accepted on this train and on the following one. We
apologise for any inconvenience.
"""

_LEASE = """
The tenant shall pay the rent of 1,150.00 per calendar month in advance on or before the 1st
day of each month by standing order to the account named in Schedule 2. The deposit of
1,725.00 will be held in an approved scheme and returned within 10 days of the end of the
tenancy, less any deductions agreed in writing. The tenant shall keep the interior of the
property clean and in good repair, shall not keep pets without the written consent of the
landlord, and shall give at least 24 hours notice before any inspection, except in an
emergency. This agreement is made on the date written at the top of page 1.
"""

_MUSEUM = """
The east gallery holds the collection of clocks and scientific instruments given to the town
in 1921 by the widow of a local watchmaker. Among the 140 objects on show are a brass
telescope made in London around 1760, a set of apothecary scales with their original weights,
and a long-case clock whose painted dial shows the phases of the moon. Most of the clocks are
wound by volunteers every Tuesday, so visitors that day may hear them strike together at
noon. Please do not touch the cases. Guided tours start at 11:00 and 14:30 and last about 45
minutes; groups of more than 10 should book in advance.
"""

_SCIENCE = """
Water boils at 100 degrees Celsius at sea level, but the boiling point falls by roughly one
degree for every 300 metres of height, so at 3,000 m it is close to 90 degrees. That is why
pasta takes longer to cook in the mountains, and why pressure cookers, which raise the
pressure to about 2 bar, cook food faster. The same rule explains why a kettle sounds
different just before it boils: small bubbles of vapour form at the hot base, rise into
cooler water and collapse with a crackling noise. Once the whole volume is hot enough, the
bubbles reach the surface and the noise becomes softer.
"""

_REFERENCE = """
To whom it may concern: I have known Ms. Clarke for six years, first as a student in my
evening class and later as a colleague at the county archive, where she worked from 2017 to
2022. She catalogued more than 3,000 letters and deeds, many of them in poor condition, with
great care and accuracy. She is patient with the public, explains old handwriting clearly,
and has trained four new volunteers. I recommend her without reservation for the post of
assistant archivist, and I would be glad to answer any further questions by telephone or
letter.
"""

_GERMAN_NOTICE = """
Wegen Bauarbeiten bleibt die Filiale in der Hauptstraße vom 3. bis 14. Juli geschlossen. In
dieser Zeit erreichen Sie uns in Köln, Lindenweg 12, oder telefonisch unter 0221 496 0815.
Die Öffnungszeiten dort sind Montag bis Freitag von 8:30 bis 18:00 Uhr. Bestellungen, die
vor dem 1. Juli eingehen, werden wie gewohnt ausgeliefert. Wir bitten um Ihr Verständnis.
"""

_GERMAN = """
Sehr geehrte Damen und Herren, vielen Dank für Ihre Nachricht vom 12. März. Die Lieferung
erfolgt frei Haus an die Bärenstraße 7 in München. Bitte überweisen Sie den Betrag von
249,90 EUR innerhalb von 14 Tagen auf das unten genannte Konto. Für Rückfragen stehen wir
Ihnen gern zur Verfügung. Mit freundlichen Grüßen, Jürgen Müller, Geschäftsführer.
"""

#: German words with umlauts and sharp s, mixed sparingly into generated fields.
GERMAN_WORDS: tuple[str, ...] = (
    "Straße",
    "Größe",
    "Müller",
    "Übersicht",
    "Köln",
    "München",
    "Grüße",
    "Gebühr",
    "Zürich",
    "Bärenstraße",
    "Rückgabe",
    "Düsseldorf",
    "Schlüssel",
    "Öffnungszeiten",
)

_PASSAGES: tuple[Passage, ...] = (
    Passage("declaration", "prose", _DECLARATION),
    Passage("preamble", "prose", _PREAMBLE),
    Passage("gettysburg", "prose", _GETTYSBURG),
    Passage("second_inaugural", "prose", _SECOND_INAUGURAL),
    Passage("sonnet_18", "verse", _SONNET_18),
    Passage("sonnet_29", "verse", _SONNET_29),
    Passage("sonnet_116", "verse", _SONNET_116),
    Passage("sonnet_130", "verse", _SONNET_130),
    Passage("new_colossus", "verse", _NEW_COLOSSUS),
    Passage("office_move", "prose", _OFFICE_MOVE),
    Passage("maintenance", "prose", _MAINTENANCE),
    Passage("recipe", "prose", _RECIPE),
    Passage("printing", "prose", _PRINTING),
    Passage("shipping", "prose", _SHIPPING),
    Passage("minutes", "prose", _MINUTES),
    Passage("library", "prose", _LIBRARY),
    Passage("weather", "prose", _WEATHER),
    Passage("software", "prose", _SOFTWARE),
    Passage("complaint", "prose", _COMPLAINT),
    Passage("birds", "prose", _BIRDS),
    Passage("bicycle", "prose", _BICYCLE),
    Passage("train", "prose", _TRAIN),
    Passage("lease", "prose", _LEASE),
    Passage("museum", "prose", _MUSEUM),
    Passage("science", "prose", _SCIENCE),
    Passage("reference", "prose", _REFERENCE),
    Passage("german", "german", _GERMAN),
    Passage("german_notice", "german", _GERMAN_NOTICE),
)

#: How often each kind of passage is drawn by :func:`sample_text`.
_KIND_WEIGHTS = {"prose": 1.0, "verse": 0.3, "german": 0.1}


def passages(kind: str | None = None) -> tuple[Passage, ...]:
    """The bundled passages, optionally only those of one ``kind``."""
    if kind is None:
        return _PASSAGES
    return tuple(p for p in _PASSAGES if p.kind == kind)


# ------------------------------------------------------------------ word lists

_FIRST_NAMES = (
    "Anna", "James", "Maria", "David", "Sofia", "Thomas", "Grace", "Daniel", "Lena", "Peter",
    "Amara", "Oliver", "Chloe", "Samuel", "Fatima", "Henry", "Ingrid", "Lucas", "Mei", "Robert",
    "Jürgen", "Zoë", "Hannah", "Victor", "Priya", "George", "Elena", "Marcus", "Ruth", "Tomás",
)  # fmt: skip
_LAST_NAMES = (
    "Smith", "Okafor", "Novak", "Fischer", "Brown", "Larsen", "Moreau", "Patel", "Kowalski",
    "Hughes", "Schneider", "Tanaka", "Clarke", "Rossi", "Walsh", "Lindqvist", "Müller", "Evans",
    "Becker", "Nakamura", "O'Brien", "Fernandes", "Wright", "Hoffmann", "Baker", "Jansen",
)  # fmt: skip
_STREETS = (
    "High Street", "Station Road", "Mill Lane", "Church Street", "Park Avenue", "Elm Grove",
    "Harbour Road", "Queen's Drive", "Bärenstraße", "Lindenweg", "Market Square", "Oak Way",
    "Bridge Street", "Hauptstraße", "Victoria Road", "Kingsway", "Cedar Close", "Rue Lafayette",
)  # fmt: skip
_TOWNS = (
    ("Springfield", "IL 62704"), ("Bristol", "BS1 4DJ"), ("München", "80331"),
    ("Leeds", "LS2 7EW"), ("Portland", "OR 97205"), ("Köln", "50667"), ("Norwich", "NR2 1TF"),
    ("Austin", "TX 78701"), ("Zürich", "8001"), ("Dublin", "D02 X285"), ("Lyon", "69002"),
    ("Madison", "WI 53703"), ("Hamburg", "20095"), ("York", "YO1 7HH"),
)  # fmt: skip
_COMPANY_WORDS = (
    "Northwind", "Bluebell", "Harbour", "Summit", "Riverside", "Oakfield", "Meridian", "Atlas",
    "Lighthouse", "Greenway", "Kestrel", "Copperleaf", "Windmill", "Granite", "Silverline",
)  # fmt: skip
_COMPANY_TYPES = (
    "Trading Ltd", "Supplies Inc.", "& Sons", "Logistics GmbH", "Engineering Co.", "Print Works",
    "Office Services", "Hardware Ltd", "Bakery", "Instruments AG", "Books & Maps",
)  # fmt: skip
_ITEMS = (
    "A4 copy paper, 500 sheets", "Ballpoint pens (blue), box of 50", "Stapler, heavy duty",
    "Toner cartridge TN-2420", "Desk lamp LED 8W", "Filing cabinet, 3 drawers", "USB-C cable 2 m",
    "Whiteboard markers, 4 colours", "Envelopes C5, pack of 100", "Labels 63.5 x 38.1 mm",
    "Coffee beans 1 kg", "Hand soap refill 5 l", "Printer service (1 h)", "Delivery charge",
    "Shelving unit 180 cm", "Brackets, set of 8", "Notebook A5, lined", "Scissors 21 cm",
    "Paper clips 28 mm", "Archive boxes x 10", "Monitor stand", "Keyboard, German layout (QWERTZ)",
    "Schlüsselanhänger", "Batteries AA x 12", "Extension lead 4-way", "Glue stick 40 g",
)  # fmt: skip
_GROCERIES = (
    "MILK 1L", "BREAD WHOLEMEAL", "EGGS FREE RANGE 6", "BANANAS", "APPLES GALA", "BUTTER 250G",
    "CHEDDAR 400G", "TOMATOES", "PASTA 500G", "RICE BASMATI 1KG", "COFFEE 227G", "TEA BAGS 80",
    "ORANGE JUICE", "YOGURT 4PK", "CHICKEN BREAST", "POTATOES 2.5KG", "ONIONS", "CARROTS 1KG",
    "OLIVE OIL 500ML", "DISH SOAP", "TOILET ROLL 9PK", "CHOCOLATE 100G", "SPARKLING WATER",
    "BROT 500G", "KÄSE GOUDA", "MÜSLI 750G",
)  # fmt: skip
_SUBJECTS = (
    "Office move on 28 April", "Quarterly figures", "Printer maintenance", "Summer open day",
    "Updated opening hours", "Parking permits 2024", "Fire drill on Thursday at 10:30",
    "New expense policy", "Server downtime this weekend", "Stocktake in the Köln warehouse",
    "Holiday rota for December", "Visitors from the Zürich office", "Budget review (Q3)",
    "Replacement of the lift in Building C", "Invoice INV-2023-00417 overdue",
)  # fmt: skip
_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip


def _pick(rng: np.random.Generator, options: tuple[str, ...] | list[str]) -> str:
    return options[int(rng.integers(len(options)))]


# ------------------------------------------------------------------ generated fields


def person_name(rng: np.random.Generator) -> str:
    """A first and last name, e.g. ``"Grace Okafor"``."""
    return f"{_pick(rng, _FIRST_NAMES)} {_pick(rng, _LAST_NAMES)}"


def subject_line(rng: np.random.Generator) -> str:
    """A short memo or letter subject, e.g. ``"Budget review (Q3)"``."""
    return _pick(rng, _SUBJECTS)


def company_name(rng: np.random.Generator) -> str:
    """A made-up company name, e.g. ``"Kestrel Print Works"``."""
    return f"{_pick(rng, _COMPANY_WORDS)} {_pick(rng, _COMPANY_TYPES)}"


def address_lines(rng: np.random.Generator) -> list[str]:
    """A two-line postal address: street and number, then postcode and town."""
    street = _pick(rng, _STREETS)
    number = int(rng.integers(1, 240))
    town, code = _TOWNS[int(rng.integers(len(_TOWNS)))]
    if street.endswith(("straße", "weg")) or code.isdigit():
        # Continental style: number after the street, postcode before the town.
        return [f"{street} {number}", f"{code} {town}"]
    return [f"{number} {street}", f"{town} {code}"]


def date_string(rng: np.random.Generator) -> str:
    """A date in one of several common formats (``2023-04-28``, ``28/04/2023``, ...)."""
    year = int(rng.integers(1998, 2026))
    month = int(rng.integers(1, 13))
    day = int(rng.integers(1, 29))
    style = int(rng.integers(5))
    if style == 0:
        return f"{year:04d}-{month:02d}-{day:02d}"
    if style == 1:
        return f"{day:02d}/{month:02d}/{year:04d}"
    if style == 2:
        return f"{day}. {_MONTHS[month - 1]} {year}".replace(". ", " ", 1)
    if style == 3:
        return f"{_MONTHS[month - 1]} {day}, {year}"
    return f"{day:02d}.{month:02d}.{year:04d}"


def amount(rng: np.random.Generator, low: float = 0.5, high: float = 2500.0) -> float:
    """A price between ``low`` and ``high``, log-uniform, rounded to cents."""
    value = float(np.exp(rng.uniform(np.log(low), np.log(high))))
    return round(value, 2)


def reference_number(rng: np.random.Generator) -> str:
    """An invoice or order reference such as ``INV-2023-00417`` or ``48213-C``."""
    style = int(rng.integers(4))
    if style == 0:
        return f"INV-{int(rng.integers(2015, 2026))}-{int(rng.integers(1, 99999)):05d}"
    if style == 1:
        return f"{int(rng.integers(10000, 99999))}-{chr(65 + int(rng.integers(26)))}"
    if style == 2:
        return f"PO {int(rng.integers(100000, 999999))}"
    return f"R{int(rng.integers(1000, 9999))}/{int(rng.integers(10, 99))}"


def phone_number(rng: np.random.Generator) -> str:
    """A phone number in one of a few national formats."""
    style = int(rng.integers(3))
    if style == 0:
        return f"+49 {int(rng.integers(30, 99))} {int(rng.integers(1000000, 9999999))}"
    if style == 1:
        return f"({int(rng.integers(200, 999))}) 555-{int(rng.integers(1000, 9999))}"
    return f"0{int(rng.integers(113, 199))} 496 {int(rng.integers(1000, 9999))}"


@dataclass(frozen=True)
class InvoiceItem:
    """One invoice line: description, quantity, unit price."""

    description: str
    quantity: int
    unit_price: float

    @property
    def total(self) -> float:
        return round(self.quantity * self.unit_price, 2)


def invoice_items(
    rng: np.random.Generator, n: int, *, groceries: bool = False
) -> list[InvoiceItem]:
    """``n`` distinct invoice (or, with ``groceries``, receipt) lines."""
    pool = _GROCERIES if groceries else _ITEMS
    order = rng.permutation(len(pool))[: min(n, len(pool))]
    items = []
    for i in order:
        qty = int(rng.choice([1, 1, 1, 2, 2, 3, 4, 5, 10, 12])) if not groceries else 1
        if groceries and rng.random() < 0.25:
            qty = int(rng.integers(2, 5))
        price = amount(rng, 0.3, 12.0) if groceries else amount(rng, 0.8, 450.0)
        items.append(InvoiceItem(pool[int(i)], qty, price))
    return items


def money(value: float, *, comma: bool = False) -> str:
    """``1234.5`` as ``"1,234.50"`` (or ``"1.234,50"`` with ``comma``)."""
    text = f"{value:,.2f}"
    if comma:
        text = text.replace(",", "_").replace(".", ",").replace("_", ".")
    return text


# ------------------------------------------------------------------ samplers

_SENTENCE_END = re.compile(r"[.!?][\"')]*$")
#: Words ending in a full stop that do not end a sentence.
_ABBREVIATIONS = frozenset({"No.", "ref.", "Tel.", "Co.", "Inc.", "Mr.", "Ms.", "Dr.", "St."})


def _ends_sentence(word: str) -> bool:
    # Initials ("M.") and German ordinals ("12. März") end no sentence.
    if word in _ABBREVIATIONS or re.fullmatch(r"[A-Z]\.|\d+\.", word):
        return False
    return bool(_SENTENCE_END.search(word))


def _extra(rng: np.random.Generator) -> str:
    """A short inserted phrase that carries digits, capitals or umlauts."""
    style = int(rng.integers(6))
    if style == 0:
        return f"(ref. {reference_number(rng)})"
    if style == 1:
        return f"on {date_string(rng)},"
    if style == 2:
        return f"for {money(amount(rng))} EUR,"
    if style == 3:
        return f"(see page {int(rng.integers(2, 400))})"
    if style == 4:
        return f"in {_pick(rng, GERMAN_WORDS)},"
    return f"at {int(rng.integers(1, 24)):02d}:{int(rng.integers(0, 60)):02d},"


def _draw_passage(rng: np.random.Generator, kinds: tuple[str, ...] | None) -> Passage:
    pool = [p for p in _PASSAGES if kinds is None or p.kind in kinds]
    weights = np.array([_KIND_WEIGHTS.get(p.kind, 1.0) for p in pool], dtype=float)
    return pool[int(rng.choice(len(pool), p=weights / weights.sum()))]


def sample_text(
    rng: np.random.Generator,
    n_words: int,
    *,
    extras: float = 0.02,
    kinds: tuple[str, ...] | None = None,
    whole_sentences: bool = True,
) -> str:
    """About ``n_words`` words of running text.

    A passage is drawn (prose more often than verse or German), reading starts at a
    sentence start and goes on through further random passages until ``n_words`` are
    taken; with ``whole_sentences`` it then runs on to the end of the sentence (at most
    30 more words), otherwise it stops at exactly ``n_words`` (when ``extras`` is 0).
    With probability ``extras`` per word a short phrase with digits (a date, an amount,
    a reference number) or a German word is inserted after a comma, so every kind of
    text carries numbers. The result starts with a capital and ends with a full stop.
    """
    if n_words <= 0:
        return ""
    out: list[str] = []
    limit = n_words + (30 if whole_sentences else 0)
    done = False
    while not done:
        words = _draw_passage(rng, kinds).words
        starts = [0] + [i + 1 for i, w in enumerate(words[:-1]) if _ends_sentence(w)]
        for w in words[starts[int(rng.integers(len(starts)))] :]:
            if len(out) >= limit or (len(out) >= n_words and not whole_sentences):
                done = True
                break
            out.append(w)
            if len(out) >= n_words and _ends_sentence(w):
                done = True
                break
            # Commas give inserted phrases a natural place (", on 12/03/2021, ...").
            if extras > 0 and w.endswith(",") and rng.random() < extras * 6:
                out.extend(_extra(rng).split())
    text = " ".join(out)
    text = text[0].upper() + text[1:]
    if not _SENTENCE_END.search(text):
        text = text.rstrip(",;:") + "."
    return text


def _sentences(passage: Passage) -> list[str]:
    """A passage's verse lines, or its sentences."""
    if passage.kind == "verse":
        return passage.lines
    out, current = [], []
    for w in passage.words:
        current.append(w)
        if _ends_sentence(w):
            out.append(" ".join(current))
            current = []
    return out


def sample_sentence(rng: np.random.Generator, *, max_words: int = 18) -> str:
    """One whole sentence (or verse line) of at most ``max_words`` words.

    A kind is drawn as in :func:`sample_text`, then a sentence uniformly among all
    short-enough sentences of that kind.
    """
    kinds = sorted(_KIND_WEIGHTS)
    weights = np.array([_KIND_WEIGHTS[k] for k in kinds])
    kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
    candidates = [s for p in passages(kind) for s in _sentences(p) if len(s.split()) <= max_words]
    if not candidates:
        return sample_text(rng, max_words, extras=0, whole_sentences=False)
    return candidates[int(rng.integers(len(candidates)))]


def sample_paragraphs(
    rng: np.random.Generator,
    n_paragraphs: int,
    *,
    min_words: int = 25,
    max_words: int = 90,
    extras: float = 0.02,
) -> list[str]:
    """``n_paragraphs`` paragraphs of :func:`sample_text` with random lengths."""
    return [
        sample_text(rng, int(rng.integers(min_words, max_words + 1)), extras=extras)
        for _ in range(n_paragraphs)
    ]
