"""What a batch grades in a folder of hand-ins, whatever layout an LMS or a TA gave it.

Layouts found in one folder, side by side, and inside folders and archives (zip, tar, tar.gz/tgz, tar.bz2,
tar.xz) that hold them:

* loose files: ``alice.py``, ``frank.PY`` (any case of the extension), named by the stem;
* a folder per student (``bob/NN.py``, ``carol/hw2/nn.py``, ``alice/mytorch/nn.py``) or an archive per
  student (``carol.zip``, ``dave.tar.gz``, or one inside that folder), named by the folder or archive;
* Gradescope's "Export Submissions" (:mod:`.gradescope`), Canvas's "Download Submissions" (:mod:`.canvas`),
  Moodle's "Download all submissions" (:mod:`.moodle`), Blackboard's "Assignment File Download"
  (:mod:`.blackboard`), Brightspace's download (:mod:`.brightspace`), GitHub Classroom clones
  (:mod:`.classroom`), zipped or already unzipped, named as the export names the student.

In each student's files the hand-in is chosen by name and content (:mod:`.choose`): ``nn.py`` in any case, a
re-upload ``nn (1).py``, ``nn_final.py``, ``Conv1d.py`` or ``nn.py.txt`` that defines the assignment's
names; the latest attempt wins. Every file that is not graded comes back as a :class:`Skipped` with the reason,
so that nobody's work vanishes without a word; links are never followed (:mod:`.trees`), archives are read in
memory within caps (:mod:`grader.archive`).
"""

from grader.exports.discover import discover_exports
from grader.exports.gradescope import parse_gradescope_metadata
from grader.exports.model import (
    NOTEBOOK_REASON,
    Discovery,
    FileTooLarge,
    Handin,
    Skipped,
    Student,
    Wanted,
    is_nn,
    readable,
    unique_name,
)

__all__ = [
    "NOTEBOOK_REASON",
    "Discovery",
    "FileTooLarge",
    "Handin",
    "Skipped",
    "Student",
    "Wanted",
    "discover_exports",
    "is_nn",
    "parse_gradescope_metadata",
    "readable",
    "unique_name",
]
