"""The course's delivery to a classroom: graded assignments for nbgrader and otter-grader, and the mark scheme.

Not part of the `byol_course` package (which imports nothing from here and needs none of its
tools). Run from the repository root with the course's environment:

    python -m classroom.nbgrader_course --out build/classroom   # make classroom
    python -m classroom.otter_course --out build/otter          # make otter
    python -m classroom.student_version ...                     # make student

`assignments` turns a committed chapter notebook into its graded source: solutions in place,
four locked, autograded test cells after each exercise (byol_course.exercises.grading), and a
manually graded answer cell for each written question, whose model answer only the instructor
version and the mark scheme keep.
"""
