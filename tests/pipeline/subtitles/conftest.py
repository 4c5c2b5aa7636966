"""Shared material for the subtitle tests: strict SRT/VTT readers and a phrase table.

The readers are written independently of pipeline.subtitles.writers: they accept only the exact
format docs/architecture.md ("Outputs") asks for, so a test that reads a file back checks the file, not the writer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class ReadCue:
    start_ms: int
    end_ms: int
    lines: tuple[str, ...]


CueReader = Callable[[str], list[ReadCue]]

_TIME = r"(\d{{2,}}):([0-5]\d):([0-5]\d){sep}(\d{{3}})"
_SRT_TIME = _TIME.format(sep=",")
_VTT_TIME = _TIME.format(sep=r"\.")
_SRT_TIMING = re.compile(f"{_SRT_TIME} --> {_SRT_TIME}")
_VTT_TIMING = re.compile(f"{_VTT_TIME} --> {_VTT_TIME}")


def _ms(hours: str, minutes: str, seconds: str, millis: str) -> int:
    return ((int(hours) * 60 + int(minutes)) * 60 + int(seconds)) * 1000 + int(millis)


def _read_blocks(body: str, *, timing: re.Pattern[str], numbered: bool) -> list[ReadCue]:
    assert body.endswith("\n"), "file must end with a line feed"
    assert not body.endswith("\n\n"), "no trailing blank line"
    cues: list[ReadCue] = []
    for number, block in enumerate(body[:-1].split("\n\n"), start=1):
        rows = block.split("\n")
        if numbered:
            assert rows[0] == str(number), f"cue numbered {rows[0]!r}, expected {number}"
            rows = rows[1:]
        match = timing.fullmatch(rows[0])
        assert match, f"bad timing line {rows[0]!r}"
        groups = match.groups()
        start_ms, end_ms = _ms(*groups[:4]), _ms(*groups[4:])
        lines = tuple(rows[1:])
        assert 1 <= len(lines) <= 2, f"cue {number} has {len(lines)} lines"
        assert all(line.strip() for line in lines), f"cue {number} has a blank line"
        assert end_ms > start_ms, f"cue {number} ends before it starts"
        if cues:
            assert start_ms >= cues[-1].end_ms, f"cue {number} overlaps or is out of order"
        cues.append(ReadCue(start_ms, end_ms, lines))
    return cues


def read_srt_strictly(text: str) -> list[ReadCue]:
    assert "\r" not in text, "LF line endings only"
    text.encode("utf-8")
    if text == "":
        return []
    return _read_blocks(text, timing=_SRT_TIMING, numbered=True)


def read_vtt_strictly(text: str) -> list[ReadCue]:
    assert "\r" not in text, "LF line endings only"
    text.encode("utf-8")
    if text == "WEBVTT\n":
        return []
    assert text.startswith("WEBVTT\n\n"), "header, then a blank line"
    return _read_blocks(text.removeprefix("WEBVTT\n\n"), timing=_VTT_TIMING, numbered=False)


@pytest.fixture(scope="session")
def read_srt() -> CueReader:
    return read_srt_strictly


@pytest.fixture(scope="session")
def read_vtt() -> CueReader:
    return read_vtt_strictly


# Short, plausible lines in each of the 18 targets, written for these tests. zh, yue and ja
# join sentences without spaces; Thai separates phrases with spaces and has no full stops.
PHRASES: dict[str, list[str]] = {
    "en": [
        "Good morning, everyone.",
        "Thank you all for coming here today.",
        "We have a lot of work to do before the end of the year.",
        "The new bridge will open to traffic next spring.",
        "Did you see the game last night?",
        "I think we should leave before it starts raining.",
        "My brother works at a small bakery near the station.",
        "That's a great idea!",
        "The price rose by 3.5 percent, according to Dr. Smith.",
        "Please call me when you arrive at the airport.",
    ],
    "fr": [
        "Bonjour à tous.",
        "Merci d'être venus si nombreux aujourd'hui.",
        "Nous avons beaucoup de travail avant la fin de l'année.",
        "Le nouveau pont ouvrira au printemps prochain.",
        "Tu as vu le match hier soir ?",
        "Je pense que nous devrions partir avant la pluie.",
        "Mon frère travaille dans une petite boulangerie près de la gare.",
        "C'est une excellente idée !",
    ],
    "de": [
        "Guten Morgen zusammen.",
        "Vielen Dank, dass Sie heute alle gekommen sind.",
        "Wir haben bis zum Jahresende noch viel Arbeit vor uns.",
        "Die neue Brücke wird im nächsten Frühling eröffnet.",
        "Hast du gestern Abend das Spiel gesehen?",
        "Ich glaube, wir sollten gehen, bevor es regnet.",
        "Mein Bruder arbeitet in einer kleinen Bäckerei am Bahnhof.",
        "Das ist eine großartige Idee!",
    ],
    "es": [
        "Buenos días a todos.",
        "Gracias por venir hoy.",
        "Tenemos mucho trabajo antes de que termine el año.",
        "El nuevo puente se abrirá la próxima primavera.",
        "¿Viste el partido anoche?",
        "Creo que deberíamos irnos antes de que empiece a llover.",
        "Mi hermano trabaja en una pequeña panadería cerca de la estación.",
        "¡Qué buena idea!",
    ],
    "pt": [
        "Bom dia a todos.",
        "Obrigado por virem aqui hoje.",
        "Temos muito trabalho antes do fim do ano.",
        "A nova ponte será aberta na próxima primavera.",
        "Você viu o jogo ontem à noite?",
        "Acho que devemos sair antes que comece a chover.",
        "Meu irmão trabalha numa pequena padaria perto da estação.",
        "Que ótima ideia!",
    ],
    "it": [
        "Buongiorno a tutti.",
        "Grazie per essere venuti qui oggi.",
        "Abbiamo molto lavoro da fare prima della fine dell'anno.",
        "Il nuovo ponte aprirà la prossima primavera.",
        "Hai visto la partita ieri sera?",
        "Penso che dovremmo partire prima che inizi a piovere.",
        "Mio fratello lavora in una piccola panetteria vicino alla stazione.",
        "È un'ottima idea!",
    ],
    "id": [
        "Selamat pagi semuanya.",
        "Terima kasih sudah datang hari ini.",
        "Kita masih punya banyak pekerjaan sebelum akhir tahun.",
        "Jembatan baru itu akan dibuka musim semi depan.",
        "Apakah kamu menonton pertandingan tadi malam?",
        "Saya pikir kita harus pergi sebelum hujan turun.",
        "Kakak saya bekerja di sebuah toko roti kecil dekat stasiun.",
        "Itu ide yang bagus!",
    ],
    "vi": [
        "Chào buổi sáng mọi người.",
        "Cảm ơn các bạn đã đến đây hôm nay.",
        "Chúng ta còn rất nhiều việc phải làm trước cuối năm.",
        "Cây cầu mới sẽ thông xe vào mùa xuân tới.",
        "Bạn có xem trận đấu tối qua không?",
        "Tôi nghĩ chúng ta nên đi trước khi trời mưa.",
        "Anh trai tôi làm việc ở một tiệm bánh nhỏ gần nhà ga.",
        "Ý tưởng tuyệt vời!",
    ],
    "tr": [
        "Herkese günaydın.",
        "Bugün geldiğiniz için hepinize teşekkür ederim.",
        "Yıl sonundan önce yapacak çok işimiz var.",
        "Yeni köprü önümüzdeki bahar trafiğe açılacak.",
        "Dün akşamki maçı izledin mi?",
        "Bence yağmur başlamadan önce çıkmalıyız.",
        "Ağabeyim istasyonun yakınındaki küçük bir fırında çalışıyor.",
        "Bu harika bir fikir!",
    ],
    "el": [
        "Καλημέρα σε όλους.",
        "Σας ευχαριστώ που ήρθατε σήμερα.",
        "Έχουμε πολλή δουλειά πριν από το τέλος της χρονιάς.",
        "Η νέα γέφυρα θα ανοίξει την επόμενη άνοιξη.",
        "Είδες τον αγώνα χθες το βράδυ;",
        "Νομίζω ότι πρέπει να φύγουμε πριν αρχίσει η βροχή.",
        "Ο αδελφός μου δουλεύει σε ένα μικρό αρτοποιείο κοντά στον σταθμό.",
        "Τέλεια ιδέα!",
    ],
    "ru": [
        "Всем доброе утро.",
        "Спасибо, что пришли сегодня.",
        "До конца года у нас ещё много работы.",
        "Новый мост откроют следующей весной.",
        "Ты видел вчерашний матч?",
        "Думаю, нам стоит уйти до того, как начнётся дождь.",
        "Мой брат работает в маленькой пекарне возле вокзала.",
        "Отличная идея!",
    ],
    "ar": [
        "صباح الخير للجميع.",
        "شكرا لحضوركم اليوم.",
        "لدينا الكثير من العمل قبل نهاية العام.",
        "سيفتح الجسر الجديد في الربيع القادم.",
        "هل شاهدت المباراة الليلة الماضية؟",
        "أعتقد أنه يجب أن نغادر قبل أن تمطر، فالسماء ملبدة بالغيوم.",
        "يعمل أخي في مخبز صغير قرب المحطة.",
        "فكرة رائعة!",
    ],
    "hi": [
        "सभी को सुप्रभात।",
        "आज यहाँ आने के लिए आप सबका धन्यवाद।",
        "साल खत्म होने से पहले हमें बहुत काम करना है।",
        "नया पुल अगले वसंत में खुलेगा।",
        "क्या तुमने कल रात का मैच देखा?",
        "मुझे लगता है कि बारिश शुरू होने से पहले हमें निकल जाना चाहिए।",
        "मेरा भाई स्टेशन के पास एक छोटी बेकरी में काम करता है।",
        "बहुत अच्छा विचार है!",
    ],
    "th": [
        "สวัสดีตอนเช้าทุกคน",
        "ขอบคุณที่มากันในวันนี้",
        "เรายังมีงานอีกมากที่ต้องทำ ก่อนสิ้นปี",
        "สะพานใหม่จะเปิดใช้ ในฤดูใบไม้ผลิหน้า",
        "เมื่อคืนคุณดูการแข่งขันไหม",
        "ผมคิดว่าเราควรออกไป ก่อนที่ฝนจะตก",
        "พี่ชายของผมทำงานที่ร้านขนมปังเล็กๆ ใกล้สถานี",
        "เป็นความคิดที่ดีมาก",
    ],
    "zh": [
        "大家早上好。",
        "谢谢大家今天来到这里。",
        "年底之前我们还有很多工作要做。",
        "新大桥将在明年春天通车。",
        "你看了昨晚的比赛吗？",
        "我觉得我们应该在下雨之前离开。",
        "我哥哥在车站附近的一家小面包店工作。",
        "这个主意太好了！",
    ],
    "yue": [
        "大家早晨。",
        "多謝大家今日嚟到呢度。",
        "年尾之前我哋仲有好多嘢要做。",
        "新大橋會喺明年春天通車。",
        "你睇咗琴晚場波未呀？",
        "我覺得我哋應該喺落雨之前走。",
        "我阿哥喺車站附近一間細麵包舖做嘢。",
        "呢個主意好正！",
    ],
    "ja": [
        "皆さん、おはようございます。",
        "今日は来てくれてありがとうございます。",
        "年末までにやるべき仕事がたくさんあります。",
        "新しい橋は来年の春に開通します。",
        "昨日の夜の試合を見ましたか？",
        "雨が降る前に出発したほうがいいと思います。",
        "兄は駅の近くの小さなパン屋で働いています。",
        "それはいい考えですね！",
    ],
    "ko": [
        "여러분, 좋은 아침입니다.",
        "오늘 와 주셔서 감사합니다.",
        "연말까지 해야 할 일이 아주 많습니다.",
        "새 다리는 내년 봄에 개통됩니다.",
        "어젯밤 경기 봤어요?",
        "비가 오기 전에 출발하는 게 좋겠어요.",
        "우리 형은 역 근처의 작은 빵집에서 일해요.",
        "정말 좋은 생각이에요!",
    ],
}

# Characters per second of speech a dub in each language plausibly runs at.
SPEAKING_RATES: dict[str, float] = {
    "en": 14, "fr": 14, "de": 14, "es": 14, "pt": 14, "it": 14, "id": 13, "vi": 12, "tr": 12,
    "el": 13, "ru": 13, "ar": 12, "hi": 12, "th": 11, "zh": 4.5, "yue": 4.5, "ko": 6.5,
    "ja": 6.5,
}  # fmt: skip

UNSPACED = frozenset({"zh", "yue", "ja"})


@pytest.fixture(scope="session")
def phrases() -> dict[str, list[str]]:
    return PHRASES


@pytest.fixture(scope="session")
def speaking_rates() -> dict[str, float]:
    return SPEAKING_RATES


def join_sentences(lang: str, sentences: list[str]) -> str:
    return ("" if lang in UNSPACED else " ").join(sentences)


@pytest.fixture(scope="session")
def joiner() -> Callable[[str, list[str]], str]:
    return join_sentences
