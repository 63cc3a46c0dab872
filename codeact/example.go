package codeact

// ExamplePrefix and ExampleSuffix wrap the first user message of a text-protocol request
// when RenderOptions.Example is set: a short worked exchange that shows the call format,
// then the real task between two rulers.
const ExamplePrefix = `Here is an example of how to work with the functions, on a task unrelated to yours.

--------------------- START OF EXAMPLE ---------------------

USER: In /workspace/shop there is a Python project. total() in cart.py forgets the quantity of each item. Please fix it.

ASSISTANT: Let me look at the function first.
<function=execute_bash>
<parameter=command>grep -n "def total" -A 4 /workspace/shop/cart.py</parameter>
</function>

USER: EXECUTION RESULT of [execute_bash]:
12:def total(items):
13-    s = 0
14-    for item in items:
15-        s += item.price
16-    return s
[The command completed with exit code 0.]

ASSISTANT: The loop adds each price once. It should multiply by the quantity.
<function=str_replace_editor>
<parameter=command>str_replace</parameter>
<parameter=path>/workspace/shop/cart.py</parameter>
<parameter=old_str>        s += item.price</parameter>
<parameter=new_str>        s += item.price * item.quantity</parameter>
</function>

USER: EXECUTION RESULT of [str_replace_editor]:
The file /workspace/shop/cart.py has been edited. Here's the result of running ` + "`cat -n`" + ` on a snippet of /workspace/shop/cart.py:
    12	def total(items):
    13	    s = 0
    14	    for item in items:
    15	        s += item.price * item.quantity
    16	    return s
Review the changes and make sure they are as expected. Edit the file again if necessary.

ASSISTANT: Now I check it on a small case.
<function=execute_bash>
<parameter=command>cd /workspace/shop && python -c "
from cart import total
from collections import namedtuple
I = namedtuple('I', 'price quantity')
print(total([I(2, 3), I(5, 1)]))
"</parameter>
</function>

USER: EXECUTION RESULT of [execute_bash]:
11
[The command completed with exit code 0.]

ASSISTANT: 2*3 + 5*1 = 11, as expected.
<function=finish>
<parameter=message>total() now multiplies each price by its quantity.</parameter>
<parameter=task_completed>true</parameter>
</function>

--------------------- END OF EXAMPLE ---------------------

Do not act on the example: it only shows the format. Your task follows.

--------------------- NEW TASK DESCRIPTION ---------------------
`

// ExampleSuffix closes the task that ExamplePrefix opened.
const ExampleSuffix = `
--------------------- END OF NEW TASK DESCRIPTION ---------------------

Follow the format strictly, and make exactly one function call per message.`
