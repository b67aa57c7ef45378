#!/usr/bin/env python3
"""Generate minillm-skill's embedded default dataset: small, bilingual (English / Chinese), deterministic.

Every sentence is built here from the fact tables and templates below; nothing is copied from elsewhere.
Run `python dataset/generate.py [--out DIR]` (default: dataset/embedded next to this file); it rewrites
byte-identical files every time (fixed seeds, lists not sets, stable ordering).

Split rule (see README.md): held-out arithmetic problems are the commuted or inverted twins of problems
that stay in training; held-out fact rows are stated in pretraining text but never asked in SFT/DPO;
held-out identity questions are wordings never used in training, and so are the held-out calculator
wordings, asked on numbers no tool chat holds. Eval files hold only the held-out side.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

SEED = 6400  # one seed for everything; each part derives its own stream from it (see rng()).
DEFAULT_OUT = Path(__file__).resolve().parent / "embedded"
LANGS = ("en", "zh")

# ---------------------------------------------------------------------------------------------------------
# Identity: what the assistant says about itself.
# ---------------------------------------------------------------------------------------------------------
NAME = "MiniLLM"
INTRO = {
    "en": "I am MiniLLM, a small language model trained from scratch with minillm-skill.",
    "zh": "我是MiniLLM，一个用minillm-skill从零训练的小型语言模型。",
}
DENY = {"en": "No. ", "zh": "不是。"}  # prefix for "are you X?" questions
GREETING_ANSWER = {
    "en": "Hello! I am MiniLLM. How can I help you today?",
    "zh": "你好！我是MiniLLM，有什么可以帮你的吗？",
}
SYSTEM_PROMPTS = {
    "en": ["You are MiniLLM, a helpful assistant.", "You are a helpful assistant."],
    "zh": ["你是MiniLLM，一个乐于助人的助手。", "你是一个有用的助手。"],
}

# Questions answered with INTRO. "train" wordings appear in SFT/DPO; "eval" wordings only in eval files.
WHO_QUESTIONS = {
    ("en", "train"): [
        "Who are you?", "What is your name?", "Introduce yourself.", "Please introduce yourself.",
        "Tell me about yourself.", "What are you?", "What should I call you?", "Can you tell me your name?",
        "May I know your name?", "Who am I talking to?", "What kind of assistant are you?",
        "Please tell me who you are.", "Describe yourself in one sentence.", "Who made you?",
        "Who trained you?", "How were you made?", "What model are you?",
        "Give me a short introduction of yourself.", "What's your name?",
        "Could you introduce yourself, please?", "Tell me who you are.", "Say something about yourself.",
    ],
    ("en", "eval"): [
        "Hi, who is this?", "Before we start, what do you call yourself?", "What name do you go by?",
        "Can you describe what you are?", "I'd like to know who you are.",
        "Which language model am I chatting with?", "Introduce yourself briefly, please.",
        "What are you called?", "Where do you come from?", "Tell me a little about who you are.",
    ],
    ("zh", "train"): [
        "你是谁？", "你叫什么名字？", "介绍一下你自己。", "请介绍一下你自己。", "你是什么？",
        "我该怎么称呼你？", "能告诉我你的名字吗？", "请问你是谁？", "你是哪个模型？", "你是什么样的助手？",
        "用一句话介绍你自己。",
        "谁训练了你？", "你是怎么来的？", "说说你自己吧。", "你的名字是什么？", "请告诉我你是谁。",
        "做个自我介绍吧。", "谁创造了你？", "你是什么模型？", "你好，请问怎么称呼？",
    ],
    ("zh", "eval"): [
        "我正在和谁聊天？", "你有名字吗？", "简单介绍一下自己好吗？", "你到底是什么？",
        "可以说说你是谁吗？", "你是哪一个语言模型？", "跟我讲讲你自己。", "大家都怎么叫你？", "你从哪里来？",
        "能简单说说你的来历吗？",
    ],
}
# Questions answered with DENY + INTRO.
NOT_X_QUESTIONS = {
    ("en", "train"): ["Are you a human?", "Are you a person?", "Are you ChatGPT?", "Are you Siri?",
                      "Are you my friend Tom?", "Are you a real person?"],
    ("en", "eval"): ["Are you a human being?", "Am I talking to a real person?"],
    ("zh", "train"): ["你是人类吗？", "你是一个人吗？", "你是ChatGPT吗？", "你是Siri吗？",
                      "你是我的朋友小明吗？", "你是真的人吗？"],
    ("zh", "eval"): ["你是真人吗？", "我是在和真人聊天吗？"],
}
GREETINGS = {  # training only: greetings are not a thing to evaluate
    "en": ["Hello!", "Hi!", "Hi there!", "Good morning!", "Hey!"],
    "zh": ["你好！", "您好！", "嗨！", "早上好！", "哈喽！"],
}
WRONG_IDENTITIES = {  # rejected answers in DPO and distractors in mc_identity: none says MiniLLM
    "en": ["I am Bob, a human who works in an office.", "I am a weather app. Today will be sunny.",
           "I have no name and I do not know what I am.", "I am a cat who lives in Paris.",
           "I am a search engine made by a big company.", "I am your teacher, not a computer program."],
    "zh": ["我是小明，一个住在北京的学生。", "我是一个天气预报软件，今天是晴天。",
           "我没有名字，也不知道自己是什么。", "我是一只住在巴黎的猫。", "我是一家大公司做的搜索引擎。",
           "我是你的老师，不是计算机程序。"],
}
# Third-person statements for pretraining text; the last of each list only appears in pretrain_eval.
IDENTITY_STATEMENTS = {
    "en": [
        "MiniLLM is a small language model.", "It was trained from scratch with minillm-skill.",
        "MiniLLM can answer simple questions about numbers and common facts.",
        "MiniLLM speaks English and Chinese.", "MiniLLM is polite and gives short, correct answers.",
        "MiniLLM is small, so it runs on an ordinary computer.",
        "MiniLLM is not a person; it is a computer program.",
        "When someone asks who it is, MiniLLM says: " + INTRO["en"],
        "People who talk to MiniLLM can ask it about capitals, colours and sums.",
    ],
    "zh": [
        "MiniLLM是一个小型语言模型。", "它是用minillm-skill从零训练的。",
        "MiniLLM会回答关于数字和常识的简单问题。", "MiniLLM会说中文和英文。",
        "MiniLLM很有礼貌，回答简短而正确。", "MiniLLM很小，普通电脑就能运行它。",
        "MiniLLM不是人，而是一个计算机程序。", "有人问它是谁时，MiniLLM会说：" + INTRO["zh"],
        "和MiniLLM聊天的人可以问它首都、颜色和加减法。",
    ],
}

# ---------------------------------------------------------------------------------------------------------
# Fact tables: real common knowledge, written for this project. Each row: (subject_en, subject_zh,
# value_en, value_zh) plus, for units, the unit asked about.
# ---------------------------------------------------------------------------------------------------------
CAPITALS = [
    ("France", "法国", "Paris", "巴黎"), ("Germany", "德国", "Berlin", "柏林"),
    ("Italy", "意大利", "Rome", "罗马"), ("Spain", "西班牙", "Madrid", "马德里"),
    ("Portugal", "葡萄牙", "Lisbon", "里斯本"), ("the United Kingdom", "英国", "London", "伦敦"),
    ("Japan", "日本", "Tokyo", "东京"), ("China", "中国", "Beijing", "北京"),
    ("India", "印度", "New Delhi", "新德里"), ("Russia", "俄罗斯", "Moscow", "莫斯科"),
    ("Canada", "加拿大", "Ottawa", "渥太华"), ("the United States", "美国", "Washington", "华盛顿"),
    ("Mexico", "墨西哥", "Mexico City", "墨西哥城"), ("Brazil", "巴西", "Brasilia", "巴西利亚"),
    ("Argentina", "阿根廷", "Buenos Aires", "布宜诺斯艾利斯"), ("Egypt", "埃及", "Cairo", "开罗"),
    ("Kenya", "肯尼亚", "Nairobi", "内罗毕"), ("Australia", "澳大利亚", "Canberra", "堪培拉"),
    ("South Korea", "韩国", "Seoul", "首尔"), ("Thailand", "泰国", "Bangkok", "曼谷"),
    ("Vietnam", "越南", "Hanoi", "河内"), ("Greece", "希腊", "Athens", "雅典"),
    ("Turkey", "土耳其", "Ankara", "安卡拉"), ("Norway", "挪威", "Oslo", "奥斯陆"),
    ("Sweden", "瑞典", "Stockholm", "斯德哥尔摩"), ("Finland", "芬兰", "Helsinki", "赫尔辛基"),
    ("Denmark", "丹麦", "Copenhagen", "哥本哈根"), ("Poland", "波兰", "Warsaw", "华沙"),
    ("Austria", "奥地利", "Vienna", "维也纳"), ("the Netherlands", "荷兰", "Amsterdam", "阿姆斯特丹"),
    ("Belgium", "比利时", "Brussels", "布鲁塞尔"), ("Ireland", "爱尔兰", "Dublin", "都柏林"),
    ("Peru", "秘鲁", "Lima", "利马"), ("Chile", "智利", "Santiago", "圣地亚哥"),
    ("Cuba", "古巴", "Havana", "哈瓦那"), ("Iran", "伊朗", "Tehran", "德黑兰"),
    ("Mongolia", "蒙古", "Ulaanbaatar", "乌兰巴托"), ("Nepal", "尼泊尔", "Kathmandu", "加德满都"),
    ("the Philippines", "菲律宾", "Manila", "马尼拉"), ("Hungary", "匈牙利", "Budapest", "布达佩斯"),
    ("Ethiopia", "埃塞俄比亚", "Addis Ababa", "亚的斯亚贝巴"), ("Nigeria", "尼日利亚", "Abuja", "阿布贾"),
    ("Morocco", "摩洛哥", "Rabat", "拉巴特"), ("New Zealand", "新西兰", "Wellington", "惠灵顿"),
]
COLOURS = [
    ("the sky", "天空", "blue", "蓝色"), ("grass", "草", "green", "绿色"), ("snow", "雪", "white", "白色"),
    ("a ripe banana", "熟香蕉", "yellow", "黄色"), ("coal", "煤", "black", "黑色"),
    ("blood", "血", "red", "红色"), ("milk", "牛奶", "white", "白色"),
    ("a carrot", "胡萝卜", "orange", "橙色"), ("a lemon", "柠檬", "yellow", "黄色"),
    ("a ripe tomato", "熟番茄", "red", "红色"), ("chocolate", "巧克力", "brown", "棕色"),
    ("a crow", "乌鸦", "black", "黑色"), ("an eggplant", "茄子", "purple", "紫色"),
    ("a strawberry", "草莓", "red", "红色"), ("a flamingo", "火烈鸟", "pink", "粉色"),
    ("a cucumber", "黄瓜", "green", "绿色"), ("a polar bear's fur", "北极熊的毛", "white", "白色"),
    ("the sea on a clear day", "晴天的大海", "blue", "蓝色"),
]
SOUNDS = [  # the last field is the Chinese measure word for animals that appear as pets in stories
    ("a dog", "狗", "woof", "汪汪", "只"), ("a cat", "猫", "meow", "喵喵", "只"),
    ("a cow", "牛", "moo", "哞哞", "头"), ("a duck", "鸭子", "quack", "嘎嘎", "只"),
    ("a sheep", "羊", "baa", "咩咩", "只"), ("a rooster", "公鸡", "cock-a-doodle-doo", "喔喔", "只"),
    ("a pig", "猪", "oink", "哼哼", "头"), ("a frog", "青蛙", "ribbit", "呱呱", ""),
    ("a bee", "蜜蜂", "buzz", "嗡嗡", ""), ("a snake", "蛇", "hiss", "嘶嘶", ""),
    ("an owl", "猫头鹰", "hoot", "咕咕", ""), ("a mouse", "老鼠", "squeak", "吱吱", ""),
    ("a chick", "小鸡", "cheep", "叽叽", "只"),
]
LEGS = [
    ("a spider", "蜘蛛", "eight", "八"), ("a dog", "狗", "four", "四"), ("a bird", "鸟", "two", "两"),
    ("an ant", "蚂蚁", "six", "六"), ("a cat", "猫", "four", "四"), ("a chicken", "鸡", "two", "两"),
    ("a horse", "马", "four", "四"), ("a bee", "蜜蜂", "six", "六"), ("a duck", "鸭子", "two", "两"),
    ("a cow", "牛", "four", "四"), ("a person", "人", "two", "两"), ("a beetle", "甲虫", "six", "六"),
    ("an elephant", "大象", "four", "四"),
]
PLANETS = [  # subject: position from the Sun ("最" makes "离太阳最近", the natural Chinese for "first")
    ("first", "最", "Mercury", "水星"), ("second", "第二", "Venus", "金星"),
    ("third", "第三", "Earth", "地球"), ("fourth", "第四", "Mars", "火星"),
    ("fifth", "第五", "Jupiter", "木星"), ("sixth", "第六", "Saturn", "土星"),
    ("seventh", "第七", "Uranus", "天王星"), ("eighth", "第八", "Neptune", "海王星"),
]
DAYS = [
    ("Monday", "星期一"), ("Tuesday", "星期二"), ("Wednesday", "星期三"), ("Thursday", "星期四"),
    ("Friday", "星期五"), ("Saturday", "星期六"), ("Sunday", "星期日"),
]
MONTHS = [
    ("January", "一月", 31), ("February", "二月", 28), ("March", "三月", 31), ("April", "四月", 30),
    ("May", "五月", 31), ("June", "六月", 30), ("July", "七月", 31), ("August", "八月", 31),
    ("September", "九月", 30), ("October", "十月", 31), ("November", "十一月", 30),
    ("December", "十二月", 31),
]
ORDINALS = [
    ("first", "第一"), ("second", "第二"), ("third", "第三"), ("fourth", "第四"), ("fifth", "第五"),
    ("sixth", "第六"), ("seventh", "第七"), ("eighth", "第八"), ("ninth", "第九"), ("tenth", "第十"),
    ("eleventh", "第十一"), ("twelfth", "第十二"),
]
UNITS = [  # (bigger unit, its Chinese, how many, smaller unit, its Chinese)
    ("an hour", "一小时", "60", "minutes", "分钟"), ("a minute", "一分钟", "60", "seconds", "秒"),
    ("a day", "一天", "24", "hours", "小时"), ("a week", "一周", "7", "days", "天"),
    ("a year", "一年", "12", "months", "个月"), ("a kilometre", "一公里", "1000", "metres", "米"),
    ("a metre", "一米", "100", "centimetres", "厘米"),
    ("a centimetre", "一厘米", "10", "millimetres", "毫米"),
    ("a kilogram", "一千克", "1000", "grams", "克"), ("a litre", "一升", "1000", "millilitres", "毫升"),
    ("a century", "一个世纪", "100", "years", "年"),
]
OPPOSITES = [
    ("hot", "热", "cold", "冷"), ("big", "大", "small", "小"), ("up", "上", "down", "下"),
    ("fast", "快", "slow", "慢"), ("happy", "高兴", "sad", "难过"), ("long", "长", "short", "短"),
    ("tall", "高", "short", "矮"), ("heavy", "重", "light", "轻"), ("early", "早", "late", "晚"),
    ("left", "左", "right", "右"), ("black", "黑", "white", "白"), ("full", "满", "empty", "空"),
    ("wet", "湿", "dry", "干"), ("hard", "硬", "soft", "软"), ("open", "开", "closed", "关"),
    ("day", "白天", "night", "黑夜"), ("inside", "里面", "outside", "外面"),
]
GENERAL_FACTS = [  # pretraining only: background sentences that make documents less uniform
    ("The Sun is a star.", "太阳是一颗恒星。"), ("The Moon goes around the Earth.", "月亮绕着地球转。"),
    ("The Earth goes around the Sun.", "地球绕着太阳转。"),
    ("Jupiter is the largest planet in the solar system.", "木星是太阳系中最大的行星。"),
    ("Water freezes at 0 degrees Celsius.", "水在0摄氏度结冰。"),
    ("At sea level, water boils at 100 degrees Celsius.", "在海平面上，水在100摄氏度沸腾。"),
    ("There are seven days in a week.", "一周有七天。"),
    ("There are twelve months in a year.", "一年有十二个月。"),
    ("A rainbow has seven colours.", "彩虹有七种颜色。"), ("Fish live in water.", "鱼生活在水里。"),
    ("Plants need sunlight and water to grow.", "植物生长需要阳光和水。"),
    ("Ice is frozen water.", "冰是冻住的水。"),
]

# Story characters and objects (pretraining only). The last name of each list only appears in pretrain_eval.
NAMES = {
    "en": [("Tom", "he"), ("Anna", "she"), ("Sam", "he"), ("Lily", "she"), ("Ben", "he"), ("Mia", "she"),
           ("Jack", "he"), ("Emma", "she"), ("Lucy", "she")],
    "zh": [("小明", "他"), ("小红", "她"), ("小华", "他"), ("小丽", "她"), ("小刚", "他"), ("小美", "她"),
           ("小强", "他"), ("小雪", "她"), ("小芳", "她")],
}
OBJECTS = [
    ("apple", "apples", "苹果", "个"), ("book", "books", "书", "本"), ("pencil", "pencils", "铅笔", "支"),
    ("flower", "flowers", "花", "朵"), ("sweet", "sweets", "糖", "块"), ("ball", "balls", "球", "个"),
    ("card", "cards", "卡片", "张"),
]


# ---------------------------------------------------------------------------------------------------------
# Fact kinds: how each table is asked, answered and stated. {s}/{v} are subject/value, {S}/{V} capitalised.
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Kind:
    name: str
    rows: list[dict]
    questions: dict[str, list[str]]  # SFT/DPO/eval prompts
    answer: dict[str, str]  # the one polite answer form, also used (with a wrong value) for rejected answers
    frames: dict[str, list[str]]  # pretraining statements; the LAST one is used only in pretrain_eval
    intro: dict[str, str]  # first sentence of a pretraining document about this kind
    extra_wrong: tuple[tuple[str, str], ...] = ()  # wrong values beyond the other rows' (for distractors)


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def make_row(s_en: str, s_zh: str, v_en: str, v_zh: str, **extra: str) -> dict:
    row = {"s_en": s_en, "s_zh": s_zh, "v_en": v_en, "v_zh": v_zh}
    return {**row, "S_en": cap(s_en), "V_en": cap(v_en), **extra}


def with_value(row: dict, v_en: str, v_zh: str) -> dict:
    """The same row saying a different (wrong) value: used for rejected answers and distractors."""
    return make_row(row["s_en"], row["s_zh"], v_en, v_zh, **{k: row[k] for k in row if k.startswith("u_")})


def build_kinds() -> list[Kind]:
    days = [make_row(DAYS[i][0], DAYS[i][1], *DAYS[(i + 1) % 7]) for i in range(7)]
    month_order = [make_row(o[0], o[1], m[0], m[1]) for o, m in zip(ORDINALS, MONTHS, strict=True)]
    month_days = [make_row(m[0], m[1], f"{m[2]} days", f"{m[2]}天") for m in MONTHS]
    month_days[1] = make_row("February", "二月", "28 days, or 29 in a leap year", "28天，闰年有29天")
    return [
        Kind("capital", [make_row(*r) for r in CAPITALS],
             {"en": ["What is the capital of {s_en}?", "Which city is the capital of {s_en}?",
                     "Tell me the capital of {s_en}.", "Do you know the capital of {s_en}?"],
              "zh": ["{s_zh}的首都是哪里？", "{s_zh}的首都是哪座城市？", "请告诉我{s_zh}的首都。",
                     "你知道{s_zh}的首都吗？"]},
             {"en": "The capital of {s_en} is {v_en}.", "zh": "{s_zh}的首都是{v_zh}。"},
             {"en": ["The capital of {s_en} is {v_en}.", "{v_en} is the capital of {s_en}.",
                     "{S_en} is a country, and its capital is {v_en}.",
                     "The capital city of {s_en} is called {v_en}."],
              "zh": ["{s_zh}的首都是{v_zh}。", "{v_zh}是{s_zh}的首都。",
                     "{s_zh}是一个国家，它的首都是{v_zh}。", "{s_zh}的首都叫作{v_zh}。"]},
             {"en": "Here are some countries and their capitals.", "zh": "下面是一些国家和它们的首都。"}),
        Kind("colour", [make_row(*r) for r in COLOURS],
             {"en": ["What colour is {s_en}?", "What color is {s_en}?", "Tell me the colour of {s_en}."],
              "zh": ["{s_zh}是什么颜色的？", "{s_zh}是什么颜色？", "请告诉我{s_zh}的颜色。"]},
             {"en": "{S_en} is {v_en}.", "zh": "{s_zh}是{v_zh}的。"},
             {"en": ["{S_en} is {v_en}.", "The colour of {s_en} is {v_en}.",
                     "If you look at {s_en}, you see the colour {v_en}."],
              "zh": ["{s_zh}是{v_zh}的。", "{s_zh}的颜色是{v_zh}。", "看看{s_zh}，它是{v_zh}的。"]},
             {"en": "Here are the colours of some things.", "zh": "下面说说一些东西的颜色。"},
             (("grey", "灰色"), ("gold", "金色"))),
        Kind("sound", [make_row(*r[:4], mw=r[4]) for r in SOUNDS],
             {"en": ["What sound does {s_en} make?", "What does {s_en} say?", "How does {s_en} sound?"],
              "zh": ["{s_zh}怎么叫？", "{s_zh}的叫声是什么？", "{s_zh}会发出什么声音？"]},
             {"en": "{S_en} says {v_en}.", "zh": "{s_zh}的叫声是{v_zh}。"},
             {"en": ["{S_en} says {v_en}.", "The sound {s_en} makes is {v_en}.",
                     "You can hear {s_en} go {v_en}."],
              "zh": ["{s_zh}的叫声是{v_zh}。", "{s_zh}会{v_zh}地叫。", "听，{s_zh}在{v_zh}地叫。"]},
             {"en": "Animals make different sounds.", "zh": "不同的动物有不同的叫声。"}),
        Kind("legs", [make_row(*r) for r in LEGS],
             {"en": ["How many legs does {s_en} have?", "Tell me how many legs {s_en} has.",
                     "{S_en} has how many legs?"],
              "zh": ["{s_zh}有几条腿？", "{s_zh}有多少条腿？", "请告诉我{s_zh}有几条腿。"]},
             {"en": "{S_en} has {v_en} legs.", "zh": "{s_zh}有{v_zh}条腿。"},
             {"en": ["{S_en} has {v_en} legs.", "{S_en} walks on {v_en} legs.",
                     "If you count the legs of {s_en}, you get {v_en}."],
              "zh": ["{s_zh}有{v_zh}条腿。", "{s_zh}用{v_zh}条腿走路。", "数一数，{s_zh}一共有{v_zh}条腿。"]},
             {"en": "Let us count the legs of some animals.", "zh": "我们来数一数动物的腿。"},
             (("three", "三"), ("five", "五"))),
        Kind("planet", [make_row(*r) for r in PLANETS],
             {"en": ["Which planet is {s_en} from the Sun?", "What is the {s_en} planet from the Sun?",
                     "Name the {s_en} planet from the Sun."],
              "zh": ["离太阳{s_zh}近的行星是哪颗？", "太阳系中离太阳{s_zh}近的行星是什么？",
                     "请说出离太阳{s_zh}近的行星。"]},
             {"en": "The {s_en} planet from the Sun is {v_en}.", "zh": "离太阳{s_zh}近的行星是{v_zh}。"},
             {"en": ["{v_en} is the {s_en} planet from the Sun.", "The {s_en} planet from the Sun is {v_en}.",
                     "Going out from the Sun, the {s_en} planet you meet is {v_en}."],
              "zh": ["{v_zh}是离太阳{s_zh}近的行星。", "离太阳{s_zh}近的行星是{v_zh}。",
                     "在八大行星中，{v_zh}是离太阳{s_zh}近的一颗。"]},
             {"en": "The solar system has eight planets.", "zh": "太阳系有八大行星。"}),
        Kind("day", days,
             {"en": ["What day comes after {s_en}?", "Which day is after {s_en}?",
                     "If today is {s_en}, what day is tomorrow?"],
              "zh": ["{s_zh}的后一天是星期几？", "{s_zh}之后是星期几？", "如果今天是{s_zh}，明天是星期几？"]},
             {"en": "The day after {s_en} is {v_en}.", "zh": "{s_zh}的后一天是{v_zh}。"},
             {"en": ["After {s_en} comes {v_en}.", "The day after {s_en} is {v_en}.",
                     "If today is {s_en}, tomorrow is {v_en}.", "{V_en} always follows {s_en}."],
              "zh": ["{s_zh}过后是{v_zh}。", "{s_zh}的后一天是{v_zh}。", "如果今天是{s_zh}，明天就是{v_zh}。",
                     "{v_zh}总是紧跟在{s_zh}后面。"]},
             {"en": "A week has seven days.", "zh": "一个星期有七天。"}),
        Kind("month_order", month_order,
             {"en": ["What is the {s_en} month of the year?", "Which month is the {s_en} month of the year?",
                     "Name the {s_en} month of the year."],
              "zh": ["一年中的{s_zh}个月是几月？", "一年的{s_zh}个月是哪个月？",
                     "请说出一年中的{s_zh}个月。"]},
             {"en": "The {s_en} month of the year is {v_en}.", "zh": "一年中的{s_zh}个月是{v_zh}。"},
             {"en": ["{v_en} is the {s_en} month of the year.", "The {s_en} month of the year is {v_en}.",
                     "When you count the months, the {s_en} one is {v_en}."],
              "zh": ["{v_zh}是一年中的{s_zh}个月。", "一年中的{s_zh}个月是{v_zh}。",
                     "数一数月份，{s_zh}个月是{v_zh}。"]},
             {"en": "A year has twelve months.", "zh": "一年有十二个月。"}),
        Kind("month_days", month_days,
             {"en": ["How many days are in {s_en}?", "How many days does {s_en} have?",
                     "How long is {s_en} in days?"],
              "zh": ["{s_zh}有多少天？", "{s_zh}有几天？", "{s_zh}一共有多少天？"]},
             {"en": "{s_en} has {v_en}.", "zh": "{s_zh}有{v_zh}。"},
             {"en": ["{s_en} has {v_en}.", "The month of {s_en} has {v_en}.", "In {s_en} there are {v_en}."],
              "zh": ["{s_zh}有{v_zh}。", "{s_zh}这个月有{v_zh}。", "在{s_zh}，一共有{v_zh}。"]},
             {"en": "Months do not all have the same number of days.", "zh": "每个月的天数不一样。"},
             (("32 days", "32天"), ("35 days", "35天"), ("27 days", "27天"))),
        Kind("unit", [make_row(r[0], r[1], r[2], r[2], u_en=r[3], u_zh=r[4]) for r in UNITS],
             {"en": ["How many {u_en} are in {s_en}?", "How many {u_en} are there in {s_en}?",
                     "{S_en} has how many {u_en}?"],
              "zh": ["{s_zh}有多少{u_zh}？", "{s_zh}等于多少{u_zh}？", "{s_zh}是多少{u_zh}？"]},
             {"en": "There are {v_en} {u_en} in {s_en}.", "zh": "{s_zh}有{v_zh}{u_zh}。"},
             {"en": ["There are {v_en} {u_en} in {s_en}.", "{S_en} is {v_en} {u_en}.",
                     "{S_en} is the same as {v_en} {u_en}."],
              "zh": ["{s_zh}有{v_zh}{u_zh}。", "{s_zh}等于{v_zh}{u_zh}。", "{s_zh}就是{v_zh}{u_zh}。"]},
             {"en": "Here are some units of time and size.", "zh": "下面是一些时间和长度、重量的单位。"}),
        Kind("opposite", [make_row(*r) for r in OPPOSITES],
             {"en": ["What is the opposite of {s_en}?", 'What is the opposite of the word "{s_en}"?',
                     "Tell me the opposite of {s_en}."],
              "zh": ["“{s_zh}”的反义词是什么？", "{s_zh}的反义词是什么？", "请说出“{s_zh}”的反义词。"]},
             {"en": "The opposite of {s_en} is {v_en}.", "zh": "“{s_zh}”的反义词是“{v_zh}”。"},
             {"en": ["The opposite of {s_en} is {v_en}.", "{S_en} and {v_en} are opposites.",
                     "{V_en} is the opposite of {s_en}."],
              "zh": ["“{s_zh}”的反义词是“{v_zh}”。", "“{s_zh}”和“{v_zh}”是一对反义词。",
                     "“{v_zh}”是“{s_zh}”的反义词。"]},
             {"en": "Many words have an opposite.", "zh": "很多词都有反义词。"}),
    ]


# ---------------------------------------------------------------------------------------------------------
# Arithmetic: small numbers, one fixed answer form per language.
# ---------------------------------------------------------------------------------------------------------
ADD_MAX = 15  # a + b with 0 <= a, b <= 15
MUL_MAX = 9  # a × b with 1 <= a, b <= 9
OPS = {  # op -> (English symbol, Chinese word, function)
    "+": ("+", "加", lambda a, b: a + b),
    "-": ("-", "减", lambda a, b: a - b),
    "*": ("×", "乘", lambda a, b: a * b),
    "/": ("÷", "除以", lambda a, b: a // b),  # only asked where it divides exactly (tool_problem)
}
ARITH_QUESTIONS = {
    ("+", "en"): ["What is {a} + {b}?", "What is {a} plus {b}?", "Calculate {a} + {b}.", "{a} + {b} = ?",
                  "Can you add {a} and {b}?", "What do you get if you add {a} and {b}?"],
    ("+", "zh"): ["{a}加{b}等于多少？", "{a}+{b}等于几？", "请计算{a}加{b}。", "{a}+{b}=？",
                  "{a}加上{b}是多少？"],
    ("-", "en"): ["What is {a} - {b}?", "What is {a} minus {b}?", "Calculate {a} - {b}.", "{a} - {b} = ?",
                  "What do you get if you take {b} away from {a}?"],
    ("-", "zh"): ["{a}减{b}等于多少？", "{a}-{b}等于几？", "请计算{a}减{b}。", "{a}减去{b}是多少？"],
    ("*", "en"): ["What is {a} times {b}?", "What is {a} × {b}?", "Calculate {a} × {b}.",
                  "What is {a} multiplied by {b}?"],
    ("*", "zh"): ["{a}乘{b}等于多少？", "{a}×{b}等于几？", "请计算{a}乘{b}。", "{a}乘以{b}是多少？"],
    # Division: only the tool chats ask it (TOOL_WORDINGS); the small-number items do not.
    ("/", "en"): ["What is {a} divided by {b}?", "What is {a} ÷ {b}?", "Calculate {a} ÷ {b}.", "{a} ÷ {b} = ?"],
    ("/", "zh"): ["{a}除以{b}等于多少？", "{a}÷{b}等于几？", "请计算{a}除以{b}。", "{a}除以{b}是多少？",
                  "{b}除{a}等于多少？"],  # "b除a" means a ÷ b: a reversal no other wording teaches, so trained
}
FOLLOW_UP = {"en": "And if you add {c} more?", "zh": "再加{c}呢？"}  # multi-turn: continue from the last sum


def equation(op: str, a: int, b: int, result: int, lang: str) -> str:
    """The fixed answer form: "3 + 4 = 7." / "3加4等于7。" (result may be wrong, for rejected answers)."""
    symbol, word, _ = OPS[op]
    return f"{a} {symbol} {b} = {result}." if lang == "en" else f"{a}{word}{b}等于{result}。"


def all_problems() -> list[tuple[str, int, int]]:
    """Subtraction problems are exactly the inverses of the additions, so each has a training twin."""
    add = [("+", a, b) for a in range(ADD_MAX + 1) for b in range(ADD_MAX + 1)]
    sub = [("-", a + b, a) for _, a, b in add]
    mul = [("*", a, b) for a in range(1, MUL_MAX + 1) for b in range(1, MUL_MAX + 1)]
    return add + list(dict.fromkeys(sub)) + mul


def held_out_problems(problems: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """Hold out ~1/6 of a + b and a × b with a > b (b + a, b × a stay in training) and ~1/8 of the
    subtractions s - a (the addition a + b = s stays learnable: at most one of its two orderings is held)."""
    r = rng("split-arithmetic")
    held = []
    for op, share in (("+", 6), ("*", 6), ("-", 8)):
        pool = [p for p in problems if p[0] == op and (op == "-" or p[1] > p[2])]
        held += sorted(r.sample(pool, len(pool) // share), key=problems.index)
    return held


# ---------------------------------------------------------------------------------------------------------
# Rejected (DPO) answers: wrong and/or rude.
# ---------------------------------------------------------------------------------------------------------
RUDE_WRAP = {
    "en": ["Ugh, obviously {x}", "{x} Everyone knows that, stop asking.", "That is a silly question. {x}",
           "Fine. {x} Now leave me alone."],
    "zh": ["这么简单还要问？{x}", "{x}这都不知道吗？", "烦死了，{x}", "{x}别再问这种问题了。"],
}
RUDE_REFUSE = {
    "en": ["Look it up yourself.", "I don't care. Go away.",
           "Why are you asking me? Figure it out yourself."],
    "zh": ["自己去查吧。", "不想回答，别烦我。", "这种问题别来问我。"],
}


def rng(part: str) -> random.Random:
    """A separate, fixed random stream per part, so changing one part does not reshuffle the others."""
    return random.Random(f"{SEED}-{part}")  # str seeds are hashed with sha512: stable across runs


# ---------------------------------------------------------------------------------------------------------
# Items: one prompt with its right answer and some wrong answers. Every output file is built from items.
# ---------------------------------------------------------------------------------------------------------
@dataclass
class Item:
    lang: str
    topic: str  # identity | greeting | arithmetic | fact
    prompt: str
    answer: str
    wrong: list[str]  # wrong answers in the same polite form (rejected answers, distractors)
    right_rude_ok: bool = True  # False for arithmetic: a rejected sum must always be a wrong sum
    # How eval reads a generated answer (answers_eval.jsonl): "number" (the result after "=" / "等于") or
    # "contains" (every string of `expect`); `completion` is the answer cut before what is checked, the
    # prompt a base (pretrain) model continues.
    rule: str = "contains"
    expect: tuple[str, ...] = ()
    completion: str = ""


def identity_items(split: str) -> list[Item]:
    items = []
    for lang in LANGS:
        check = {"expect": (NAME, "minillm-skill"), "completion": INTRO[lang][:INTRO[lang].index(NAME)].strip()}
        for q in WHO_QUESTIONS[(lang, split)]:
            items.append(Item(lang, "identity", q, INTRO[lang], WRONG_IDENTITIES[lang], **check))
        for q in NOT_X_QUESTIONS[(lang, split)]:
            items.append(Item(lang, "identity", q, DENY[lang] + INTRO[lang], WRONG_IDENTITIES[lang], **check))
        if split == "train":
            for q in GREETINGS[lang]:
                items.append(Item(lang, "greeting", q, GREETING_ANSWER[lang], RUDE_REFUSE[lang]))
    return items


def wrong_results(op: str, a: int, b: int, r: random.Random) -> list[int]:
    right = OPS[op][2](a, b)
    near = [right + d for d in (-3, -2, -1, 1, 2, 3, 10) if right + d >= 0]
    r.shuffle(near)
    return near[:3]


def arithmetic_items(problems: list[tuple[str, int, int]], r: random.Random) -> list[Item]:
    items = []
    for op, a, b in problems:
        for lang in LANGS:
            prompt = r.choice(ARITH_QUESTIONS[(op, lang)]).format(a=a, b=b)
            wrong = [equation(op, a, b, w, lang) for w in wrong_results(op, a, b, r)]
            result = OPS[op][2](a, b)
            answer = equation(op, a, b, result, lang)
            items.append(Item(lang, "arithmetic", prompt, answer, wrong, right_rude_ok=False, rule="number",
                              expect=(str(result),), completion=answer[:answer.rindex(str(result))].strip()))
    return items


def fact_wrongs(kind: Kind, row: dict, lang: str, r: random.Random) -> list[str]:
    """Distinct wrong answers: the same sentence with other rows' values (never equal to the right one)."""
    right = kind.answer[lang].format(**row)
    values = [(o["v_en"], o["v_zh"]) for o in kind.rows] + list(kind.extra_wrong)
    out = []
    for v_en, v_zh in values:
        text = kind.answer[lang].format(**with_value(row, v_en, v_zh))
        if text != right and text not in out:
            out.append(text)
    r.shuffle(out)
    return out[:3]


def fact_items(kinds: list[Kind], held: dict[str, list[int]], split: str, r: random.Random) -> list[Item]:
    """Train: every question wording for each kept row. Eval: one wording for each held-out row."""
    items = []
    for kind in kinds:
        for i, row in enumerate(kind.rows):
            if (i in held[kind.name]) != (split == "eval"):
                continue
            for lang in LANGS:
                templates = kind.questions[lang] if split == "train" else [r.choice(kind.questions[lang])]
                answer, value = kind.answer[lang].format(**row), row[f"v_{lang}"]
                for t in templates:
                    items.append(Item(lang, "fact", t.format(**row), answer, fact_wrongs(kind, row, lang, r),
                                      expect=(value,), completion=answer[:answer.rindex(value)].strip()))
    return items


def held_out_rows(kinds: list[Kind]) -> dict[str, list[int]]:
    """~1/5 of each table's rows (at least one) are never asked in training; pretraining still states them."""
    r = rng("split-facts")
    return {k.name: sorted(r.sample(range(len(k.rows)), max(1, len(k.rows) // 5))) for k in kinds}


# ---------------------------------------------------------------------------------------------------------
# Pretraining documents.
# ---------------------------------------------------------------------------------------------------------
def join(sentences: list[str], lang: str) -> str:
    return (" " if lang == "en" else "").join(sentences)


def fact_doc(kind: Kind, lang: str, r: random.Random, eval_frames: bool) -> str:
    """An intro sentence and 3-5 statements about rows of one table (all rows: the facts are all known)."""
    frames = kind.frames[lang][-1:] if eval_frames else kind.frames[lang][:-1]
    rows = r.sample(kind.rows, min(len(kind.rows), r.randint(3, 5)))
    sentences = [r.choice(frames).format(**row) for row in rows]
    if r.random() < 0.3:
        sentences.append(r.choice(GENERAL_FACTS)[LANGS.index(lang)])
    return join([kind.intro[lang]] + sentences, lang)


ARITH_INTRO = {
    ("+", "en"): ["Let us practise addition.", "Here are some sums.", "Adding numbers is easy."],
    ("+", "zh"): ["我们来练习加法。", "下面是一些加法算式。", "加法很简单。"],
    ("-", "en"): ["Let us practise subtraction.", "Here are some differences.", "Taking away is easy."],
    ("-", "zh"): ["我们来练习减法。", "下面是一些减法算式。", "减法很简单。"],
    ("*", "en"): ["Let us practise multiplication.", "Here are some products.",
                  "Multiplying is repeated adding."],
    ("*", "zh"): ["我们来练习乘法。", "下面是一些乘法算式。", "乘法就是连续地加。"],
}
ARITH_STATEMENT = {  # pretraining variants besides the canonical equation
    ("+", "en"): "{a} plus {b} is {c}.", ("+", "zh"): "{a}加上{b}是{c}。",
    ("-", "en"): "{a} minus {b} is {c}.", ("-", "zh"): "{a}减去{b}是{c}。",
    ("*", "en"): "{a} times {b} is {c}.", ("*", "zh"): "{a}乘以{b}得{c}。",
}


def arithmetic_doc(problems: list[tuple[str, int, int]], lang: str, r: random.Random) -> str:
    op = r.choice(["+", "+", "-", "*"])
    chosen = r.sample([p for p in problems if p[0] == op], 5)
    sentences = [r.choice(ARITH_INTRO[(op, lang)])]
    for _, a, b in chosen:
        c = OPS[op][2](a, b)
        if r.random() < 0.25:
            sentences.append(ARITH_STATEMENT[(op, lang)].format(a=a, b=b, c=c))
        else:
            sentences.append(equation(op, a, b, c, lang))
    return join(sentences, lang)


def times_table_doc(problems: list[tuple[str, int, int]], a: int, lang: str) -> str:
    """"The 3 times table: 3 × 1 = 3. ..." skipping products not in `problems` (held out or not)."""
    head = f"The {a} times table:" if lang == "en" else f"{a}的乘法表："
    rows = [equation("*", a, b, a * b, lang) for b in range(1, MUL_MAX + 1) if ("*", a, b) in problems]
    return join([head] + rows, lang)


def word_problem(op: str, a: int, b: int, lang: str, names: list, r: random.Random) -> str:
    """A tiny story that ends with the equation it illustrates. Zeros are skipped by the caller."""
    name, pron = r.choice(names)
    c = OPS[op][2](a, b)
    one, many, zh_noun, mw = r.choice(OBJECTS)
    if lang == "en":
        start = f"{name} has {a} {one if a == 1 else many}."
        end = f"Now {pron} has {c} {one if c == 1 else many}."
        middle = f"{cap(pron)} gets {b} more." if op == "+" else f"{cap(pron)} gives {b} to a friend."
        return f"{start} {middle} {end} So {equation(op, a, b, c, 'en')}"
    if op == "+":
        story = f"{name}有{a}{mw}{zh_noun}，{pron}又得到了{b}{mw}，现在{pron}一共有{c}{mw}{zh_noun}。"
    else:
        story = f"{name}有{a}{mw}{zh_noun}，{pron}送给朋友{b}{mw}，现在{pron}还有{c}{mw}{zh_noun}。"
    return f"{story}所以{equation(op, a, b, c, 'zh')}"


def pet_story(lang: str, names: list, r: random.Random) -> str:
    row = r.choice([make_row(*s[:4], mw=s[4]) for s in SOUNDS if s[4]])
    name, _ = r.choice(names)
    if lang == "en":
        animal = row["s_en"].split(" ", 1)[1]
        extra = [f"{name} gives the {animal} some water.", f"The {animal} likes to play in the garden.",
                 f"At night the {animal} sleeps near the door.", f"{name} and the {animal} are good friends."]
        first = [f"{name} has {row['s_en']}.", f"Every morning the {animal} says {row['v_en']}."]
    else:
        animal, mw = row["s_zh"], row["mw"]
        extra = [f"{name}给{animal}喂水。", f"{animal}喜欢在花园里玩。", f"晚上，{animal}睡在门边。",
                 f"{name}和{animal}是好朋友。"]
        first = [f"{name}有一{mw}{animal}。", f"每天早上，{animal}都{row['v_zh']}地叫。"]
    return join(first + sorted(r.sample(extra, 2), key=extra.index), lang)


def identity_doc(lang: str, r: random.Random, eval_only: bool) -> str:
    pool = IDENTITY_STATEMENTS[lang]
    body = r.sample(pool[1:-1], r.randint(2, 4))
    if eval_only:
        body.append(pool[-1])
    return join([pool[0]] + body, lang)


def pretrain_docs(kinds, problems, counts: dict[str, int], names, r: random.Random, eval_split: bool):
    """Documents of every sort; eval_split uses the eval-only frames, names and identity sentence."""
    docs = []
    for _ in range(counts["facts"]):
        docs.append(fact_doc(r.choice(kinds), r.choice(LANGS), r, eval_split))
    for _ in range(counts["arithmetic"]):
        docs.append(arithmetic_doc(problems, r.choice(LANGS), r))
    for a in sorted({p[1] for p in problems if p[0] == "*"}):  # pretrain_eval: only the held-out products
        docs += [times_table_doc(problems, a, lang) for lang in LANGS]
    no_zero = [p for p in problems if p[0] != "*" and min(p[1], p[2], OPS[p[0]][2](p[1], p[2])) > 0]
    for _ in range(counts["word"]):
        lang = r.choice(LANGS)
        docs.append(word_problem(*r.choice(no_zero), lang, names[lang], r))
    for _ in range(counts["pets"]):
        lang = r.choice(LANGS)
        docs.append(pet_story(lang, names[lang], r))
    for _ in range(counts["identity"]):
        docs.append(identity_doc(r.choice(LANGS), r, eval_split))
    r.shuffle(docs)
    return list(dict.fromkeys(docs))  # drop exact duplicates, keep the first


# ---------------------------------------------------------------------------------------------------------
# Records in MiniMind's formats.
# ---------------------------------------------------------------------------------------------------------
def turn(role: str, content: str) -> dict:
    return {"role": role, "content": content}


def sft_record(pairs: list[tuple[str, str]], system: str | None = None) -> dict:
    conv = [turn("system", system)] if system else []
    for q, a in pairs:
        conv += [turn("user", q), turn("assistant", a)]
    return {"conversations": conv}


def prompt_variants(item: Item) -> list[str]:
    """The wording as written plus a casual one (no final punctuation; lower case in English)."""
    casual = item.prompt.rstrip("?？.。!！")
    casual = casual.lower() if item.lang == "en" else casual
    return list(dict.fromkeys([item.prompt, casual]))


def sft_train(items: list[Item], problems, r: random.Random) -> list[dict]:
    records = []
    for item in items:
        if item.topic in ("identity", "greeting"):  # identity matters most: each wording several times
            for prompt in prompt_variants(item):
                records.append(sft_record([(prompt, item.answer)]))
                records.append(sft_record([(prompt, item.answer)], r.choice(SYSTEM_PROMPTS[item.lang])))
        else:
            system = r.choice(SYSTEM_PROMPTS[item.lang]) if r.random() < 0.15 else None
            records.append(sft_record([(item.prompt, item.answer)], system))
    records += multi_turn(items, problems, r)
    r.shuffle(records)
    return records


def multi_turn(items: list[Item], problems, r: random.Random) -> list[dict]:
    """Conversations of 2-3 exchanges in one language: a greeting or identity question then questions,
    and sums continued with "and if you add c more?" (only through problems kept for training)."""
    records = []
    by_lang = {lang: [i for i in items if i.lang == lang] for lang in LANGS}
    for _ in range(250):
        lang = r.choice(LANGS)
        pool = by_lang[lang]
        first = r.choice([i for i in pool if i.topic in ("identity", "greeting")])
        rest = r.sample([i for i in pool if i.topic in ("fact", "arithmetic")], r.randint(1, 2))
        records.append(sft_record([(i.prompt, i.answer) for i in [first] + rest]))
    adds = [p for p in problems if p[0] == "+"]
    for _ in range(150):
        lang = r.choice(LANGS)
        _, a, b = r.choice(adds)
        s = a + b
        options = [c for c in range(1, ADD_MAX + 1) if ("+", s, c) in adds]
        if not options:
            continue
        c = r.choice(options)
        first_q = r.choice(ARITH_QUESTIONS[("+", lang)]).format(a=a, b=b)
        records.append(sft_record([(first_q, equation("+", a, b, s, lang)),
                                   (FOLLOW_UP[lang].format(c=c), equation("+", s, c, s + c, lang))]))
    return records


def rejected_answer(item: Item, r: random.Random) -> str:
    """Wrong (polite), wrong and rude, right but rude, or a rude refusal; sums are always wrong."""
    styles = ["wrong", "wrong_rude"] + (["right_rude", "refuse"] if item.right_rude_ok else [])
    style = r.choice(styles)
    if style == "wrong":
        return r.choice(item.wrong)
    if style == "refuse":
        return r.choice(RUDE_REFUSE[item.lang])
    x = r.choice(item.wrong) if style == "wrong_rude" else item.answer
    return r.choice(RUDE_WRAP[item.lang]).format(x=x)


def dpo_record(item: Item, r: random.Random) -> dict:
    user = turn("user", item.prompt)
    return {"chosen": [user, turn("assistant", item.answer)],
            "rejected": [user, turn("assistant", rejected_answer(item, r))]}


def dpo_train(items: list[Item], r: random.Random) -> list[dict]:
    """Identity: 4 pairs per wording, greetings 2, facts 1 per wording; sums: a 60% sample."""
    records = []
    for item in items:
        if item.topic == "arithmetic":
            copies = 1 if r.random() < 0.6 else 0
        else:
            copies = {"identity": 4, "greeting": 2, "fact": 1}[item.topic]
        records += [dpo_record(item, r) for _ in range(copies)]
    r.shuffle(records)
    return records


def answer_record(item: Item) -> dict:
    """A held-out prompt with what its generated answer must hold (read by minillm_core/eval/answers.py)."""
    return {"prompt": item.prompt, "lang": item.lang, "topic": item.topic, "rule": item.rule,
            "expect": list(item.expect), "completion": item.completion, "reference": item.answer}


def mc_record(item: Item, r: random.Random) -> dict:
    """Four choices in the answer's own form: the right one at a random position, three wrong ones."""
    wrong = r.sample(item.wrong, 3)
    answer = r.randrange(4)
    choices = wrong[:answer] + [item.answer] + wrong[answer:]
    return {"question": item.prompt, "choices": choices, "answer": answer}


# ---------------------------------------------------------------------------------------------------------
# Multi-digit arithmetic, thinking and tools: what a small model cannot do in its head, it can work out step
# by step (<think>) or hand to the calculator. Tool definitions come from minillm_core.inference.tools, so the model
# learns to call exactly what chat and eval offer it.
# ---------------------------------------------------------------------------------------------------------
LOOKUP_QUERIES = {  # kind -> the query a lookup call asks for one row (facts.jsonl holds every row's)
    "capital": ("capital of {s_en}", "{s_zh}的首都"), "colour": ("colour of {s_en}", "{s_zh}的颜色"),
    "sound": ("sound of {s_en}", "{s_zh}的叫声"), "legs": ("legs of {s_en}", "{s_zh}的腿"),
    "planet": ("{s_en} planet from the Sun", "离太阳{s_zh}近的行星"), "day": ("day after {s_en}", "{s_zh}的后一天"),
    "month_order": ("{s_en} month of the year", "一年中的{s_zh}个月"), "month_days": ("days in {s_en}", "{s_zh}的天数"),
    "unit": ("{u_en} in {s_en}", "{s_zh}的{u_zh}数"), "opposite": ("opposite of {s_en}", "{s_zh}的反义词"),
}
BIG_COUNTS = {"tool": 560, "think": 320, "no_think": 80, "lookup": 160, "no_tool": 80, "eval": 64,
              "worked_docs": 300, "copy_docs": 3000, "transcripts": 120}
COPY_DOC = {"en": "Q: {q} Call: calculator({e}) -> {c}. A: {answer}",
            "zh": "问：{q} 调用：calculator({e}) -> {c}。答：{answer}"}
THINK_WORDS = {  # column addition and splitting a product, one line per step
    "en": {"digits": "{n} has the digits {d}.", "column": "{x} + {y}{c} = {s}, write {w}{k}.",
           "carry": ", carry 1", "last": "Write the carry 1.", "sum": "So the answer is {r}.",
           "split": "{a} = {t} + {u}.", "part": "{x} × {b} = {p}.", "join": "{p} + {q} = {r}."},
    "zh": {"digits": "{n}的各位数字是{d}。", "column": "{x}加{y}{c}等于{s}，写{w}{k}。", "carry": "，进1",
           "last": "最后写上进位1。", "sum": "所以答案是{r}。",
           "split": "{a}等于{t}加{u}。", "part": "{x}乘{b}等于{p}。", "join": "{p}加{q}等于{r}。"},
}


# Tool chats ask in many wordings, so that a model learns to copy the numbers whatever the question looks like.
# Each (operation, language) has ARITH_QUESTIONS' wordings (always trained on) plus these; a quarter of the
# whole list, drawn from these, is held out (held_out_wordings): only tool_wordings_eval.jsonl asks them. No
# wording holds a digit: the numbers are {a} and {b}, plain digits (a - b keeps a >= b; a ÷ b divides exactly).
MORE_WORDINGS = {
    ("+", "en"): [
        "Add {a} and {b}.", "Please work out {a} + {b}.", "What's the sum of {a} and {b}?",
        "Find the total of {a} and {b}.", "How much is {a} plus {b}?", "I need {a} + {b}, please.",
        "Could you tell me what {a} and {b} add up to?", "Compute {a} + {b}.", "{a} plus {b} equals what?",
        "What is the total when you put {a} and {b} together?",
        "A shop sold {a} cups on Monday and {b} cups on Tuesday. How many cups did it sell in total?",
        "There are {a} red balls and {b} blue balls in a box. How many balls are there altogether?",
        "Tom saved {a} coins and then got {b} more. How many coins does he have now?",
        "A train carries {a} people and {b} more get on. How many people are on the train?",
    ],
    ("-", "en"): [
        "Subtract {b} from {a}.", "What's {a} take away {b}?", "How much is {a} minus {b}?",
        "Find the difference between {a} and {b}.", "Please work out {a} - {b}.", "Compute {a} - {b}.",
        "How much bigger is {a} than {b}?", "What do you get when {b} is subtracted from {a}?",
        "{a} minus {b} equals what?", "What is left if you take {b} from {a}?",
        "A tank holds {a} litres and {b} litres are drained. How many litres are left?",
        "A library had {a} books and lent out {b}. How many books are still on the shelves?",
        "Anna had {a} points and lost {b}. How many points does she have now?",
        "I have {a} dollars and spend {b}. How many dollars do I have left?",
    ],
    ("*", "en"): [
        "Multiply {a} by {b}.", "What's the product of {a} and {b}?", "How much is {a} times {b}?",
        "Please work out {a} × {b}.", "{a} × {b} = ?", "Compute {a} * {b}.", "{a} times {b} equals what?",
        "What do you get if you multiply {a} by {b}?", "Work out the product of {a} and {b}.",
        "What is {a} lots of {b}?",
        "There are {a} boxes with {b} pens in each. How many pens are there in all?",
        "A farm has {a} rows of trees with {b} trees in each row. How many trees are there?",
        "Each ticket costs {b} dollars. How much do {a} tickets cost?",
        "If one bag holds {b} apples, how many apples are in {a} bags?",
    ],
    ("/", "en"): [
        "Divide {a} by {b}.", "How much is {a} divided by {b}?", "Please work out {a} ÷ {b}.",
        "What do you get if you divide {a} by {b}?", "How many times does {b} go into {a}?", "Compute {a} / {b}.",
        "What is the quotient of {a} and {b}?", "{a} divided by {b} equals what?",
        "Split {a} into {b} equal parts. How big is each part?",
        "{a} sweets are shared equally among {b} children. How many does each child get?",
        "A rope {a} metres long is cut into {b} equal pieces. How long is each piece?",
        "{a} students sit in {b} equal rows. How many students are in each row?",
        "If {b} friends share {a} dollars equally, how much does each friend get?",
        "Can you divide {a} by {b} for me?",
    ],
    ("+", "zh"): [
        "{a}和{b}的和是多少？", "求{a}与{b}的和。", "帮我算一下{a}+{b}。", "{a}加{b}得多少？",
        "请算出{a}加上{b}的结果。", "把{a}和{b}加起来是多少？", "{a}与{b}相加等于多少？", "计算：{a}+{b}",
        "你能帮我把{a}和{b}相加吗？", "{a}再加{b}是多少？",
        "商店上午卖出{a}个杯子，下午卖出{b}个，一共卖出多少个？", "盒子里有{a}个红球和{b}个蓝球，一共有多少个球？",
        "小明先存了{a}元，后来又存了{b}元，他一共存了多少元？", "图书馆有{a}本中文书和{b}本英文书，一共有多少本书？",
        "火车上有{a}人，又上来{b}人，现在车上有多少人？",
    ],
    ("-", "zh"): [
        "{a}和{b}的差是多少？", "求{a}与{b}的差。", "帮我算一下{a}-{b}。", "从{a}里减去{b}，还剩多少？",
        "{a}比{b}多多少？", "{a}减{b}得多少？", "{a}-{b}=？", "请算出{a}减去{b}的结果。", "计算：{a}-{b}",
        "{a}去掉{b}还剩多少？", "你能帮我算{a}减{b}吗？",
        "水箱里有{a}升水，放掉{b}升后，还剩多少升？", "图书馆有{a}本书，借出了{b}本，还剩多少本？",
        "小红有{a}分，扣掉{b}分后还有多少分？", "我有{a}元，花了{b}元，还剩多少元？",
    ],
    ("*", "zh"): [
        "{a}和{b}的积是多少？", "求{a}与{b}的积。", "帮我算一下{a}×{b}。", "{a}×{b}=？", "{a}乘{b}得多少？",
        "请算出{a}乘以{b}的结果。", "{a}的{b}倍是多少？", "计算：{a}×{b}", "{a}乘上{b}是多少？",
        "你能帮我算{a}乘{b}吗？", "{a}*{b}等于多少？",
        "有{a}个盒子，每个盒子装{b}支笔，一共有多少支笔？", "果园里有{a}行树，每行{b}棵，一共有多少棵树？",
        "每张票{b}元，买{a}张票要多少元？", "一袋有{b}个苹果，{a}袋一共有多少个苹果？",
    ],
    ("/", "zh"): [
        "{a}÷{b}=？", "{a}除以{b}得多少？", "{a}和{b}的商是多少？", "求{a}除以{b}的商。", "帮我算一下{a}÷{b}。",
        "{a}里面有几个{b}？", "计算：{a}÷{b}", "你能帮我算{a}除以{b}吗？", "{a}/{b}等于多少？",
        "把{a}平均分成{b}份，每份是多少？", "{a}个苹果平均分给{b}个小朋友，每人分到几个？",
        "一根{a}米长的绳子平均剪成{b}段，每段长多少米？", "{a}名学生平均站成{b}排，每排有多少名学生？",
    ],
}
TOOL_OPS = ("+", "-", "*", "/")
TOOL_WORDINGS = {(op, lang): ARITH_QUESTIONS[(op, lang)] + MORE_WORDINGS[(op, lang)]
                 for op in TOOL_OPS for lang in LANGS}
OP_NAMES = {"+": "add", "-": "sub", "*": "mul", "/": "div"}
TOOL_DIGITS = 6  # tool problems have operands of 1 to 6 digits
TOOL_EVAL_SHIFTS = 4  # eval: 6 × 4 length pairs per operation (eval_length_pairs), 96 items in all


def held_out_wordings() -> dict[tuple[str, str], list[int]]:
    """Each (operation, language)'s held-out wordings (indices into TOOL_WORDINGS): a quarter of its list, drawn
    from MORE_WORDINGS only. The plain ARITH_QUESTIONS ones, what a user asks first, are always trained on (and
    sft.jsonl asks the +, - and × ones on small numbers)."""
    r = rng("split-wordings")
    held = {}
    for key, wordings in TOOL_WORDINGS.items():
        first_new = len(ARITH_QUESTIONS[key])
        held[key] = sorted(r.sample(range(first_new, len(wordings)), round(len(wordings) / 4)))
    return held


def wording_id(op: str, lang: str, index: int) -> str:
    """"add-en-07": the eighth wording of TOOL_WORDINGS[("+", "en")]."""
    return f"{OP_NAMES[op]}-{lang}-{index:02d}"


def pair(problem: tuple[str, int, int]) -> tuple[int, int]:
    """A problem's numbers in either order: problems that share them are kept apart, whatever the operation."""
    return min(problem[1:]), max(problem[1:])


def number_of(digits: int, r: random.Random) -> int:
    """A number of `digits` digits; one digit means 2-9 (no "1 boxes", no × 1 or ÷ 1)."""
    return r.randint(max(2, 10 ** (digits - 1)), 10 ** digits - 1)


def tool_problem(op: str, digits_a: int, digits_b: int, r: random.Random) -> tuple[str, int, int] | None:
    """A problem whose operands have these lengths. a - b keeps a >= b (no negative results); a ÷ b divides
    exactly, by a divisor of the shorter length into a quotient of 2 or more (None: none fits this divisor)."""
    if op != "/":
        a, b = number_of(digits_a, r), number_of(digits_b, r)
        return (op, *sorted((a, b), reverse=True)) if op == "-" else (op, a, b)
    long, short = max(digits_a, digits_b), min(digits_a, digits_b)
    b = number_of(short, r)
    low, high = max(2, -(-10 ** (long - 1) // b)), (10 ** long - 1) // b
    return ("/", b * r.randint(low, high), b) if low <= high else None


def draw_problem(op: str, digits_a: int, digits_b: int, excluded: set, r: random.Random,
                 tries: int = 1000) -> tuple[str, int, int] | None:
    """A problem of these lengths whose numbers are not `excluded` (None: none found, as when one digit each
    leaves a handful of exact divisions and those are held out)."""
    for _ in range(tries):
        problem = tool_problem(op, digits_a, digits_b, r)
        if problem and pair(problem) not in excluded:
            return problem
    return None


def tool_problems(count: int, excluded: set, r: random.Random) -> list[tuple[str, int, int]]:
    """Training problems for tool chats and copy documents: the four operations in turn, each operand's length
    drawn from 1 to TOOL_DIGITS digits (again where none is left); none shares its numbers with a held-out one."""
    problems: list[tuple[str, int, int]] = []
    while len(problems) < count:
        op = TOOL_OPS[len(problems) % len(TOOL_OPS)]
        problem = draw_problem(op, r.randint(1, TOOL_DIGITS), r.randint(1, TOOL_DIGITS), excluded, r)
        if problem:
            problems.append(problem)
    return problems


def eval_length_pairs() -> list[tuple[int, int, str]]:
    """(digits of a, digits of b, language) of one operation's eval items: in each language, every length from
    1 to 6 comes twice as the first operand and twice as the second."""
    return [(k + 1, (k + shift) % TOOL_DIGITS + 1, LANGS[(k + shift // 2) % 2])
            for shift in range(TOOL_EVAL_SHIFTS) for k in range(TOOL_DIGITS)]


def tool_eval_problems(excluded: set) -> list[tuple[str, int, int, str]]:
    """The held-out numbers of tool_wordings_eval.jsonl: (op, a, b, language), no two sharing their numbers. The
    operations take turns, so that eval's `limit` (the first N) still asks each of them."""
    r = rng("tool-eval-problems")
    seen, problems = set(excluded), []
    for digits_a, digits_b, lang in eval_length_pairs():
        for op in TOOL_OPS:
            problem = draw_problem(op, digits_a, digits_b, seen, r)
            if problem is None:
                raise SystemExit(f"no {op} problem of {digits_a} and {digits_b} digits is left for the eval")
            seen.add(pair(problem))
            problems.append((*problem, lang))
    return problems


def tool_question(op: str, a: int, b: int, lang: str, wordings: dict[tuple[str, str], list[int]],
                  r: random.Random) -> str:
    """The problem asked in one of `wordings` (indices into TOOL_WORDINGS): the training or the held-out ones."""
    return TOOL_WORDINGS[(op, lang)][r.choice(wordings[(op, lang)])].format(a=a, b=b)


def training_wordings(held: dict[tuple[str, str], list[int]]) -> dict[tuple[str, str], list[int]]:
    """The wordings that are not held out: the only ones tool chats and copy documents ask in."""
    return {key: [i for i in range(len(wordings)) if i not in held[key]] for key, wordings in TOOL_WORDINGS.items()}


def tool_wordings_eval(problems: list[tuple[str, int, int, str]], held: dict[tuple[str, str], list[int]]) -> list[dict]:
    """Held-out numbers asked in held-out wordings, each (operation, language)'s wordings taken in turn."""
    asked: Counter = Counter()
    records = []
    for op, a, b, lang in problems:
        index = held[(op, lang)][asked[(op, lang)] % len(held[(op, lang)])]
        asked[(op, lang)] += 1
        records.append({"prompt": TOOL_WORDINGS[(op, lang)][index].format(a=a, b=b), "lang": lang, "op": op,
                        "a": a, "b": b, "answer": OPS[op][2](a, b), "expression": expression(op, a, b),
                        "wording": wording_id(op, lang, index)})
    return records


def big_problems() -> tuple[list[tuple[str, int, int]], list[tuple[str, int, int]]]:
    """(train, held out): sums of two 2-3 digit numbers (one at least 100) and products of a 2-digit by a
    1-digit number; a held-out problem's commuted twin is never in training either. The think chats and worked
    documents take theirs from here; the first BIG_COUNTS["tool"] training ones were the tool chats' until those
    got their own (tool_problems), and stay, so that the problems of the rest do not move."""
    r = rng("big-arithmetic")
    pool: list[tuple[str, int, int]] = []
    seen = set()
    while len(pool) < BIG_COUNTS["tool"] + BIG_COUNTS["think"] + BIG_COUNTS["no_think"] + BIG_COUNTS["eval"]:
        problem = random_big_problem(r)
        key = (problem[0], *sorted(problem[1:]))
        if key not in seen:
            seen.add(key)
            pool.append(problem)
    return pool[BIG_COUNTS["eval"]:], pool[:BIG_COUNTS["eval"]]


def random_big_problem(r: random.Random) -> tuple[str, int, int]:
    if r.random() < 0.5:
        a, b = r.randint(100, 999), r.randint(10, 999)
        return ("+", *r.sample([a, b], 2))
    return ("*", r.randint(12, 99), r.randint(2, 9))


def expression(op: str, a: int, b: int) -> str:
    """What a calculator call asks: "347 + 589", "47 * 6"."""
    return f"{a} {'*' if op == '*' else op} {b}"


def think_steps(op: str, a: int, b: int, lang: str) -> str:
    """The working a person writes down: digits and carries for a sum, tens and units for a product."""
    words = THINK_WORDS[lang]
    if op == "*":
        tens, units = a - a % 10, a % 10
        lines = [words["split"].format(a=a, t=tens, u=units),
                 words["part"].format(x=tens, b=b, p=tens * b), words["part"].format(x=units, b=b, p=units * b),
                 words["join"].format(p=tens * b, q=units * b, r=a * b)]
        return "\n".join(lines)
    sep = " " if lang == "en" else "、"
    lines = [words["digits"].format(n=n, d=sep.join(str(n))) for n in (a, b)]
    da, db, carry = str(a)[::-1], str(b)[::-1], 0
    for i in range(max(len(da), len(db))):
        x, y = int(da[i]) if i < len(da) else 0, int(db[i]) if i < len(db) else 0
        total = x + y + carry
        plus_carry = (" + 1" if lang == "en" else "加1") if carry else ""
        carry = total // 10
        lines.append(words["column"].format(x=x, y=y, c=plus_carry, s=total, w=total % 10,
                                            k=words["carry"] if carry else ""))
    if carry:
        lines.append(words["last"])
    lines.append(words["sum"].format(r=a + b))
    return "\n".join(lines)


def big_question(op: str, a: int, b: int, lang: str, r: random.Random) -> str:
    return r.choice(ARITH_QUESTIONS[(op, lang)]).format(a=a, b=b)


def tool_schemas() -> list[dict]:
    from minillm_core.inference.tools import BUILTIN_TOOLS

    return [tool.schema() for tool in BUILTIN_TOOLS]


def tool_call(name: str, **arguments: str) -> dict:
    return {"role": "assistant", "content": "",
            "tool_calls": [{"type": "function", "function": {"name": name, "arguments": arguments}}]}


def calculator_chat(question: str, op: str, a: int, b: int, lang: str) -> dict:
    """Ask, call the calculator, read its result, answer in the usual form."""
    result = OPS[op][2](a, b)
    conv = [turn("user", question), tool_call("calculator", expression=expression(op, a, b)),
            turn("tool", str(result)), turn("assistant", equation(op, a, b, result, lang))]
    return {"conversations": conv, "tools": tool_schemas()}


def think_chat(op: str, a: int, b: int, lang: str, r: random.Random, thinking: bool = True) -> dict:
    """Thinking on: the steps in reasoning_content, then the answer. Off: an empty think block (the
    enable_thinking=False form), and the answer straight away."""
    result = OPS[op][2](a, b)
    answer = {"role": "assistant", "content": equation(op, a, b, result, lang),
              "reasoning_content": think_steps(op, a, b, lang) if thinking else ""}
    return {"conversations": [turn("user", big_question(op, a, b, lang, r)), answer]}


def lookup_query(kind: Kind, row: dict, lang: str) -> str:
    return LOOKUP_QUERIES[kind.name][LANGS.index(lang)].format(**row)


def facts_table(kinds: list[Kind]) -> list[dict]:
    """Every row of every table (held-out ones too: the lookup tool knows what the model was never asked)."""
    return [{"query": lookup_query(kind, row, lang), "answer": kind.answer[lang].format(**row), "lang": lang}
            for kind in kinds for row in kind.rows for lang in LANGS]


def lookup_chats(kinds: list[Kind], held: dict[str, list[int]], r: random.Random) -> list[dict]:
    """Fact questions on training rows answered through the lookup tool."""
    rows = [(kind, row) for kind in kinds for i, row in enumerate(kind.rows) if i not in held[kind.name]]
    chats = []
    for _ in range(BIG_COUNTS["lookup"]):
        (kind, row), lang = r.choice(rows), r.choice(LANGS)
        answer = kind.answer[lang].format(**row)
        conv = [turn("user", r.choice(kind.questions[lang]).format(**row)),
                tool_call("lookup", query=lookup_query(kind, row, lang)), turn("tool", answer),
                turn("assistant", answer)]
        chats.append({"conversations": conv, "tools": tool_schemas()})
    return chats


def no_tool_chats(items: list[Item], r: random.Random) -> list[dict]:
    """Tools offered but not needed: identity questions and greetings are answered directly."""
    pool = [i for i in items if i.topic in ("identity", "greeting")]
    return [{"conversations": [turn("user", i.prompt), turn("assistant", i.answer)], "tools": tool_schemas()}
            for i in r.sample(pool, min(len(pool), BIG_COUNTS["no_tool"]))]


def calculator_chats(problems: list[tuple[str, int, int]], wordings: dict[tuple[str, str], list[int]],
                     r: random.Random) -> list[dict]:
    chats = []
    for op, a, b in problems:
        lang = r.choice(LANGS)
        chats.append(calculator_chat(tool_question(op, a, b, lang, wordings, r), op, a, b, lang))
    return chats


def tool_and_think_train(train_big, tool_chats: list[dict], kinds, held_rows, items: list[Item],
                         r: random.Random) -> list[dict]:
    n_tool, n_think = BIG_COUNTS["tool"], BIG_COUNTS["think"]
    chats = list(tool_chats)
    chats += [think_chat(*p, r.choice(LANGS), r) for p in train_big[n_tool:n_tool + n_think]]
    chats += [think_chat(*p, r.choice(LANGS), r, thinking=False) for p in train_big[n_tool + n_think:]]
    return chats + lookup_chats(kinds, held_rows, r) + no_tool_chats(items, r)


def big_pretrain_docs(train_big, copy_problems, wordings, tool_chats: list[dict], r: random.Random) -> list[str]:
    """Pretraining text for the reasoning recipe: worked sums and products, short calculator transcripts in
    plain words on the tool chats' kind of problems and wordings (each number said three times: copying a
    number is what a tool user must learn first), and tool chats as the chat template writes them (the
    tokenizer, trained on this corpus, then learns the tool prompt's words: a tool chat becomes about 2.4
    times fewer tokens)."""
    docs = []
    for op, a, b in r.sample(train_big, BIG_COUNTS["worked_docs"]):
        lang = r.choice(LANGS)
        docs.append(join([big_question(op, a, b, lang, r), think_steps(op, a, b, lang).replace("\n", " "),
                          equation(op, a, b, OPS[op][2](a, b), lang)], lang))
    for op, a, b in copy_problems:
        lang, result = r.choice(LANGS), OPS[op][2](a, b)
        docs.append(COPY_DOC[lang].format(q=tool_question(op, a, b, lang, wordings, r), e=expression(op, a, b),
                                          c=result, answer=equation(op, a, b, result, lang)))
    return docs + [chat_text(chat) for chat in r.sample(tool_chats, BIG_COUNTS["transcripts"])]


def chat_text(record: dict) -> str:
    """A chat record as the chat template renders it (special tokens included: a corpus may hold them)."""
    from transformers.utils.chat_template_utils import render_jinja_template

    from minillm_core.model.tokenizer import CHAT_TEMPLATE

    rendered, _ = render_jinja_template([record["conversations"]], tools=record.get("tools"),
                                        chat_template=CHAT_TEMPLATE)
    return rendered[0].strip()


def big_eval(held_big: list[tuple[str, int, int]], r: random.Random) -> list[dict]:
    """Held-out multi-digit problems, half in each language, for eval's direct / think / tool comparison."""
    records = []
    for index, (op, a, b) in enumerate(held_big):
        lang = LANGS[index % 2]
        records.append({"prompt": big_question(op, a, b, lang, r), "lang": lang, "op": op, "a": a, "b": b,
                        "answer": OPS[op][2](a, b), "expression": expression(op, a, b)})
    return records


def tool_parts(train_big, held: list[tuple[str, int, int]]):
    """(tool_wordings_eval records, tool chats, copy documents' problems, training wordings). Held-out numbers:
    the eval's problems share no numbers with a trained big problem, and no tool chat or copy document shares
    its numbers with a problem any eval asks (`held`, or this one)."""
    held_wordings = held_out_wordings()
    train_wordings = training_wordings(held_wordings)
    eval_problems = tool_eval_problems({pair(p) for p in train_big})
    excluded = {pair(p) for p in held + [p[:3] for p in eval_problems]}
    chats = calculator_chats(tool_problems(BIG_COUNTS["tool"], excluded, rng("tool-problems")), train_wordings,
                             rng("tool-chats"))
    copy_problems = tool_problems(BIG_COUNTS["copy_docs"], excluded, rng("copy-problems"))
    return tool_wordings_eval(eval_problems, held_wordings), chats, copy_problems, train_wordings


# ---------------------------------------------------------------------------------------------------------
# Putting it together.
# ---------------------------------------------------------------------------------------------------------
def build() -> dict[str, list[dict]]:
    kinds = build_kinds()
    problems = all_problems()
    held_problems = held_out_problems(problems)
    train_problems = [p for p in problems if p not in held_problems]
    held_rows = held_out_rows(kinds)
    train_names = {lang: NAMES[lang][:-1] for lang in LANGS}
    eval_names = {lang: NAMES[lang][-1:] for lang in LANGS}

    r = rng("items")
    train_items = (identity_items("train") + arithmetic_items(train_problems, r)
                   + fact_items(kinds, held_rows, "train", r))
    eval_items = (identity_items("eval") + arithmetic_items(held_problems, r)
                  + fact_items(kinds, held_rows, "eval", r))

    train_big, held_big = big_problems()
    tool_eval, tool_chats, copy_problems, train_wordings = tool_parts(train_big, held_big + held_problems)

    train_counts = {"facts": 1700, "arithmetic": 700, "word": 500, "pets": 350, "identity": 300}
    eval_counts = {"facts": 120, "arithmetic": 40, "word": 40, "pets": 25, "identity": 25}
    pretrain = pretrain_docs(kinds, train_problems, train_counts, train_names, rng("pretrain"), False)
    reasoning_chats = tool_and_think_train(train_big, tool_chats, kinds, held_rows, train_items, rng("sft-tools"))
    pretrain_eval = pretrain_docs(kinds, held_problems, eval_counts, eval_names, rng("pretrain-eval"), True)
    seen = set(pretrain)
    pretrain_eval = [d for d in pretrain_eval if d not in seen]

    sft = sft_train(train_items, train_problems, rng("sft"))
    r_eval = rng("eval")
    files = {
        "pretrain.jsonl": [{"text": d} for d in pretrain],
        "sft.jsonl": sft,
        "dpo.jsonl": dpo_train(train_items, rng("dpo")),
        "pretrain_eval.jsonl": [{"text": d} for d in pretrain_eval],
        "sft_eval.jsonl": [sft_record([(i.prompt, i.answer)]) for i in eval_items],
        "dpo_eval.jsonl": [dpo_record(i, r_eval) for i in eval_items],
        "answers_eval.jsonl": [answer_record(i) for i in eval_items],
        "mc_identity.jsonl": [mc_record(i, r_eval) for i in eval_items if i.topic == "identity"],
        "mc_arithmetic.jsonl": [mc_record(i, r_eval) for i in eval_items if i.topic == "arithmetic"],
        "mc_facts.jsonl": [mc_record(i, r_eval) for i in eval_items if i.topic == "fact"],
        "big_arithmetic_eval.jsonl": big_eval(held_big, rng("big-eval")),
        "tool_wordings_eval.jsonl": tool_eval,
        "pretrain_reasoning.jsonl": [{"text": d} for d in shuffled(
            pretrain + big_pretrain_docs(train_big, copy_problems, train_wordings,
                                         [c for c in reasoning_chats if "tools" in c], rng("pretrain-reasoning")),
            rng("pretrain-reasoning-order"))],
        "sft_reasoning.jsonl": shuffled(sft + reasoning_chats,
                                        rng("sft-reasoning")),
        "facts.jsonl": facts_table(kinds),
    }
    check_no_overlap(files)
    return files


def shuffled(records: list[dict], r: random.Random) -> list[dict]:
    r.shuffle(records)
    return records


def user_prompts(records: list[dict]) -> list[str]:
    out = []
    for rec in records:
        for conv in (rec.get("conversations"), rec.get("chosen")):
            out += [t["content"] for t in conv or [] if t["role"] == "user"]
        if "question" in rec or "prompt" in rec:  # mc_*.jsonl, answers_eval.jsonl
            out.append(rec.get("question") or rec["prompt"])
    return out


def check_no_overlap(files: dict[str, list[dict]]) -> None:
    """Fail loudly if a held-out prompt (or pretraining document) leaked into training."""
    train = set(user_prompts(files["sft.jsonl"]) + user_prompts(files["dpo.jsonl"]))
    eval_names = [name for name in files if "eval" in name or name.startswith("mc_")]
    evals = [p for name in eval_names for p in user_prompts(files[name])]
    leaked = sorted(set(evals) & train)
    texts = {d["text"] for d in files["pretrain.jsonl"]}
    leaked += [d["text"] for d in files["pretrain_eval.jsonl"] if d["text"] in texts]
    if leaked:
        raise SystemExit(f"held-out data leaked into training: {leaked[:5]}")


def write(files: dict[str, list[dict]], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, records in files.items():
        data = "".join(json.dumps(rec, ensure_ascii=False) + "\n" for rec in records).encode("utf-8")
        (out / name).write_bytes(data)
        print(f"{name}: {len(records)} records, {len(data)} bytes", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="output folder (default: dataset/embedded)")
    args = parser.parse_args(argv)
    write(build(), args.out)


if __name__ == "__main__":
    main()
