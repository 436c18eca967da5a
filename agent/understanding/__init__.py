"""How the offline planner understands a question: the multilingual encoder (``encoder``),
the intent classifier over the exemplar bank (``intents``), deterministic slot extractors
(``slots``), references to the previous answer's items (``references``) and one call
builder per intent (``calls``)."""
