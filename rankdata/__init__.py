"""The ranking-data contract: the one definition of a conversation's text, of the comparisons a ranking
gives, of the JSON Lines records Rankwise writes and reads, and of labeler agreement.

Pure Python (no Django, nothing from labeling, rewards, exports or worker), so that the web app, the
exporter, the importer, the generation worker and the reward-model trainer all call the same functions.

- `rankdata.text`: a conversation as plain text, and as a model's chat template where it has one;
- `rankdata.comparisons`: tiers (1 = best, ties share a tier) to winner/loser and tie pairs;
- `rankdata.records`: the SFT, pairwise and K-wise records, and readers for them and for HH-RLHF and
  Open-Assistant data;
- `rankdata.agreement`: pairwise agreement, Kendall's tau-b and Krippendorff's alpha between labelers;
- `rankdata.intervals`: the Wilson interval of a measured share (accuracy, agreement).
"""
