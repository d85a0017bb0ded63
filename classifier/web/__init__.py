"""The review web page (`incident-classifier serve`): the queue, one flag, decisions, audit samples and
agreement, for logged-in reviewers. Needs the `web` extra; `accounts` needs only the standard library."""
