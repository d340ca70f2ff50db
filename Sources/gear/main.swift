print("gear")
