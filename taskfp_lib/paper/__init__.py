"""The paper wing: every figure and table of the paper and of the repository revision.

* :mod:`.recipes` - the paper's figures and tables (Fig. 3-6, Supp. Fig. 1, Supp. Tables 1, 3, 4,
  the stability scores), one recipe each;
* :mod:`.revision`, :mod:`.msd` - the repository revision's further analyses;
* :mod:`.development` (with :mod:`.variants`, :mod:`.distance_arrays`, :mod:`.development_chapter`) -
  the development comparison of the 798 distance variants (how the bKLD settings were chosen; the
  placement of a new distance among them is :mod:`taskfp_lib.benchmark.development`);
* :mod:`.plotting` - the figures, in one visual language;
* :mod:`.printed`, :mod:`.comparison` - the numbers the paper prints and their comparison;
* :mod:`.results` - recipe results, results files and provenance;
* :mod:`.plan` - the declared notebook plan the book is executed from.
"""
