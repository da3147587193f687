"""DNS benchmark: the mail record set for many domains, through the panel and through lexicon."""
