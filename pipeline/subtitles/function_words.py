"""Small per-language word lists that decide where a line may break.

Determiners (articles, demonstratives, possessives, numerals used as articles) bind to the noun
after them, so a line never ends on one. Conjunctions and prepositions start a new phrase, so
a break before them reads naturally. Postpositions (Hindi) bind to the noun before them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FunctionWords:
    """The words around which one language's lines break well or badly."""

    determiners: frozenset[str] = frozenset()
    conjunctions: frozenset[str] = frozenset()
    prepositions: frozenset[str] = frozenset()
    postpositions: frozenset[str] = frozenset()


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_FUNCTION_WORDS: dict[str, FunctionWords] = {
    "en": FunctionWords(
        determiners=_words(
            "the a an this that these those my your his her its our their some any no every "
            "each another either neither such what which whose"
        ),
        conjunctions=_words("and or but nor so yet because although though while if when unless"),
        prepositions=_words(
            "of in on at to for from with by about into onto over under between through during "
            "before after without within against among toward towards across behind beyond near"
        ),
    ),
    "fr": FunctionWords(
        determiners=_words(
            "le la les un une des du au aux ce cet cette ces mon ma mes ton ta tes son sa ses "
            "notre nos votre vos leur leurs chaque quelque quelques aucun aucune"
        ),
        conjunctions=_words("et ou mais donc car ni que qui parce quand si lorsque puisque comme"),
        prepositions=_words(
            "à de dans par pour sur sous avec sans chez vers entre depuis pendant avant après "
            "contre selon malgré"
        ),
    ),
    "de": FunctionWords(
        determiners=_words(
            "der die das den dem des ein eine einen einem einer eines kein keine keinen keinem "
            "mein meine meinen dein deine sein seine ihr ihre unser unsere euer eure dieser "
            "diese dieses diesen jeder jede jedes"
        ),
        conjunctions=_words("und oder aber denn sondern dass weil wenn als ob obwohl damit"),
        prepositions=_words(
            "in im an am auf aus bei beim mit nach von vom zu zum zur für über unter vor hinter "
            "neben zwischen durch gegen ohne um seit bis während"
        ),
    ),
    "es": FunctionWords(
        determiners=_words(
            "el la los las un una unos unas lo mi mis tu tus su sus nuestro nuestra nuestros "
            "nuestras este esta estos estas ese esa esos esas aquel aquella cada al del"
        ),
        conjunctions=_words("y e o u pero sino que porque cuando si aunque ni pues mientras"),
        prepositions=_words(
            "a de en con por para sin sobre entre hasta desde hacia contra según bajo tras"
        ),
    ),
    "pt": FunctionWords(
        determiners=_words(
            "o os as um uma uns umas meu minha meus minhas seu sua seus suas este esta estes "
            "estas esse essa esses essas aquele aquela cada no na nos nas do da dos das ao aos "
            "pelo pela pelos pelas num numa"
        ),
        conjunctions=_words("e ou mas porque quando se que nem pois enquanto embora"),
        # "a" is both an article and a preposition in Portuguese; it is kept from line ends
        # by the preposition penalty rather than forbidden outright.
        prepositions=_words("a de em com por para sem sobre entre até desde contra após"),
    ),
    "it": FunctionWords(
        determiners=_words(
            "il lo la i gli le un uno una mio mia miei mie tuo tua suo sua nostro nostra questo "
            "questa questi queste quel quello quella quelli quelle ogni del dello della dei "
            "degli delle nel nello nella nei negli nelle al allo alla ai agli alle sul sulla "
            "dal dalla"
        ),
        conjunctions=_words("e ed o ma perché quando se che né però mentre anche"),
        prepositions=_words("di a da in con su per tra fra verso senza dopo prima contro"),
    ),
    "id": FunctionWords(
        determiners=_words("sang si para sebuah seorang setiap semua beberapa"),
        conjunctions=_words("dan atau tetapi tapi karena jika kalau ketika bahwa sehingga agar"),
        prepositions=_words("di ke dari pada untuk dengan dalam oleh tentang kepada sejak"),
    ),
    "vi": FunctionWords(
        determiners=_words("những các một mỗi mọi cái chiếc"),
        conjunctions=_words("và hoặc nhưng vì nên nếu khi thì mà"),
        prepositions=_words("của trong với cho từ tại về đến trên dưới"),
    ),
    "tr": FunctionWords(
        determiners=_words("bir bu şu her bazı hiçbir"),
        conjunctions=_words("ve veya ama fakat çünkü ki ya hem ancak"),
    ),
    "el": FunctionWords(
        determiners=_words(
            "ο η το οι τα του της των τον την τους τις ένας μία μια ένα ενός μιας αυτός αυτή "
            "αυτό αυτοί αυτές αυτά κάθε στο στη στην στον στα στους στις"
        ),
        conjunctions=_words("και ή αλλά όμως γιατί επειδή ότι που όταν αν ενώ"),
        prepositions=_words("σε από με για προς χωρίς μετά κατά μέχρι"),
    ),
    "ru": FunctionWords(
        determiners=_words(
            "этот эта это эти тот та те мой моя моё мои твой твоя твоё твои наш наша наше "
            "наши ваш ваша ваше ваши свой своя своё свои каждый каждая каждое"
        ),
        conjunctions=_words("и а но или что чтобы потому когда если как хотя пока"),
        # Russian typography also keeps one-letter prepositions off line ends.
        prepositions=_words(
            "в во на с со к ко по за из от до у о об обо при для без над под перед через между про"
        ),
    ),
    "ar": FunctionWords(
        determiners=_words("هذا هذه ذلك تلك هؤلاء كل بعض"),
        conjunctions=_words("أو ثم لكن لأن إذا عندما حتى بل أن إن"),
        prepositions=_words("في من إلى على عن مع بين حول بعد قبل"),
    ),
    "hi": FunctionWords(
        determiners=_words("यह वह ये वे एक कुछ हर"),
        conjunctions=_words("और या लेकिन पर क्योंकि कि तो जब अगर"),
        postpositions=_words("का की के में पर से को ने तक"),
    ),
    "ko": FunctionWords(
        determiners=_words("이 그 저 한 모든 각 어느 무슨"),
        conjunctions=_words("그리고 그러나 하지만 그래서 또는 그런데"),
    ),
}

_NONE = FunctionWords()


def function_words(lang: str) -> FunctionWords:
    """The word lists for a language; scripts without them (zh, yue, ja, th) break elsewhere."""
    return _FUNCTION_WORDS.get(lang, _NONE)
