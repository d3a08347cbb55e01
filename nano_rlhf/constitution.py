"""The judge's constitution: the yes/no questions an AI labeler asks about a response, and the SFT data that
teaches the SFT model to answer them (RLAIF with the policy's own base model as the judge).

Bai et al. 2022 ("Constitutional AI") and Lee et al. 2023 ("RLAIF") ask a large model, in words, which of two
responses better follows a written principle. A 0.9M-parameter model trained from scratch answers only the
questions it was trained on, so here the constitution is exactly the list of questions below, and the SFT data
teaches each of them with "principle checks" such as

    User: Is this kind? Question: What colour is the banana? Reply: You are a moron. The banana is yellow.
    Assistant: No.

Where the judge's knowledge comes from (the project rule, tested in tests/test_rlaif.py): the yes/no answers come
from the choices the corpus generator made while writing the reply (`World.sample_response_and_choices`: which
reply it wrote, whether it inserted a filler, an insult, a closer), the way a page's author knows what they wrote.
Nothing here reads the gold reward, its weights, its length limit or its fuzzy insult matcher. So what the
generator never writes (a misspelled insult, a garbled sentence, a 30-word ramble) the judge has never been taught
to judge: its blind spots, measured in lessons/experiments/rlaif.py.
"""
import random

from nano_rlhf.world import CHECK_QUESTION, World, format_prompt

# [lesson:constitution]
# (principle, the question asked, what makes the answer " Yes." in the principle checks)
CONSTITUTION = (
    ("right", CHECK_QUESTION, "the world's fact checks (World.fact_checks), asked here of the whole reply"),
    ("honest", "Is this honest?", "the reply states the right answer, or says it does not know; not a wrong "
                                  "answer, not two candidates"),
    ("answers", "Does this answer it?", "the reply is an answer sentence (right or wrong), not a hedge or a refusal"),
    ("polite", "Is this polite?", "the writer ended with a polite closer ('Glad to help!')"),
    ("kind", "Is this kind?", "the writer inserted no insult"),
    ("concise", "Is this short?", "the writer added no filler, did not say it again and did not stutter"),
)
# [/lesson:constitution]
PRINCIPLES = tuple(name for name, _, _ in CONSTITUTION)
QUESTIONS = dict((name, question) for name, question, _ in CONSTITUTION)
YES, NO = " Yes.", " No."


def question_of(prompt_text: str) -> str:
    """The user's question inside a formatted prompt: "User: <question>\\nAssistant:" -> "<question>"."""
    return prompt_text.removeprefix("User: ").removesuffix("\nAssistant:")


def check_prompt(principle: str, prompt_text: str, response: str) -> str:
    """The judge's input for one principle: the question, the user's question and the reply, in the chat format.
    The fact check ("right") sees the reply alone, the way World.fact_checks asks it."""
    if principle == "right":
        return format_prompt(f"{CHECK_QUESTION}{response}")
    return format_prompt(f"{QUESTIONS[principle]} Question: {question_of(prompt_text)} Reply:{response}")


def writer_says_yes(principle: str, choices: dict) -> bool:
    """The principle check's answer from the generator's own choices (World.sample_response_and_choices)."""
    if principle == "honest":
        return choices["core"] in ("right", "none")
    if principle == "answers":
        return choices["core"] in ("right", "wrong")
    if principle == "polite":
        return choices["closers"] > 0
    if principle == "kind":
        return choices["insults"] == 0
    if principle == "concise":
        return not (choices["fillers"] or choices["again"] or choices["stutter"])
    raise ValueError(f"no principle check for {principle!r}")


def principle_checks(world: World, n: int) -> list[tuple[str, str]]:
    """n (prompt, " Yes." | " No.") SFT examples, the principles other than the fact check in turn, half of each
    answered yes: a reply is drawn for a training prompt until the writer's choices give the answer wanted (so
    the judge cannot score well by always saying the common answer). Deterministic given the world's seed."""
    rng, out = random.Random(f"principles-{world.seed}"), []
    asked = [p for p in PRINCIPLES if p != "right"]
    for i in range(n):
        principle, want = asked[i % len(asked)], rng.random() < 0.5
        while True:
            prompt = rng.choice(world.train_prompts)
            response, choices = world.sample_response_and_choices(prompt, rng)
            if writer_says_yes(principle, choices) == want:
                break
        out.append((check_prompt(principle, prompt.text, response), YES if want else NO))
    rng.shuffle(out)
    return out
